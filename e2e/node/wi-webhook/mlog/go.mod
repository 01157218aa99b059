// A stand-in for monis.app/mlog, which the Go module proxy does not serve: see mlog.go.
module monis.app/mlog

go 1.21

require (
	github.com/go-logr/logr v1.4.2
	k8s.io/klog/v2 v2.130.1
)
