package io.hsmoperator.api.common;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;

import java.util.Objects;

/** A reference to a ManagedHsm resource, in the referring resource's namespace unless {@code namespace} is set. */
public class HsmReference {
    /**
     * CEL, on a spec with an hsmRef: the reference still names the same ManagedHsm. The namespace may be written out or
     * left out (the resource's own), since CEL cannot see metadata.namespace; the operator checks that the reference still
     * resolves to the HSM the resource was made in ({@code status.hsm}). ({@code namespace} is a CEL keyword, hence the
     * API server's escaping.)
     */
    public static final String UNCHANGED = "self.hsmRef.name == oldSelf.hsmRef.name && (!has(self.hsmRef.__namespace__)"
            + " || !has(oldSelf.hsmRef.__namespace__) || self.hsmRef.__namespace__ == oldSelf.hsmRef.__namespace__)";

    @Required
    @Pattern("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
    @JsonPropertyDescription("Name of the ManagedHsm resource.")
    public String name;

    @Pattern("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    @JsonPropertyDescription("Namespace of the ManagedHsm resource; defaults to this resource's namespace. A ManagedHsm in another "
            + "namespace must list this namespace in spec.allowedNamespaces.")
    public String namespace;

    public HsmReference() {
    }

    public HsmReference(String name, String namespace) {
        this.name = name;
        this.namespace = namespace;
    }

    /** The namespace the reference points into, given the namespace of the referring resource. */
    public String namespaceOr(String own) {
        return namespace == null || namespace.isEmpty() ? own : namespace;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof HsmReference && Objects.equals(name, ((HsmReference) o).name)
                && Objects.equals(namespace, ((HsmReference) o).namespace);
    }

    @Override
    public int hashCode() {
        return Objects.hash(name, namespace);
    }
}
