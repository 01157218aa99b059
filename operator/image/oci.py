#!/usr/bin/env python3
"""Helpers of operator/image/build: OCI layers and layout, the SBOM, facts read from the project.

Standard library only, so that the build needs nothing but python3, GNU tar and mmdebstrap.

  oci.py layer TAR|- BLOBDIR OUT.json      gzip a layer tar into BLOBDIR, write its digests and sizes
  oci.py layout SPEC.json LAYOUTDIR        write an OCI image layout (index, manifest, config) from a spec
  oci.py sbom SPEC.json OUT.spdx.json      write an SPDX 2.3 SBOM (Debian packages + Java libraries)
  oci.py chart-command DEPLOYMENT.yaml     print the container's command in the chart as a JSON array
  oci.py pom-gav POM.xml                   print {"group", "artifact", "version"} (the parent's group and version if unset)
  oci.py pom-meta POM.xml...               print {"licenses": ..., "source": ...} from the first POM that has them
"""
import gzip
import hashlib
import json
import os
import re
import shutil
import sys
import uuid
import xml.etree.ElementTree as ET

CHUNK = 1 << 20
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"


def die(msg):
    print(f"oci.py: {msg}", file=sys.stderr)
    sys.exit(1)


class HashingWriter:
    """A file object that hashes and counts what is written through it."""

    def __init__(self, raw):
        self.raw, self.sha, self.size = raw, hashlib.sha256(), 0

    def write(self, data):
        self.sha.update(data)
        self.size += len(data)
        return self.raw.write(data)

    def flush(self):
        self.raw.flush()


def layer(src, blobdir, out_json, level=6):
    """One pass over the uncompressed tar: its digest (the diff_id) and the gzip blob with its digest.

    gzip with mtime 0 and no file name, so the same tar gives the same blob."""
    os.makedirs(blobdir, exist_ok=True)
    tmp = os.path.join(blobdir, f".layer-{os.getpid()}.tmp")
    diff, usize = hashlib.sha256(), 0
    inp = sys.stdin.buffer if src == "-" else open(src, "rb")
    with open(tmp, "wb") as raw:
        hw = HashingWriter(raw)
        with gzip.GzipFile(fileobj=hw, mode="wb", compresslevel=level, mtime=0, filename="") as gz:
            for chunk in iter(lambda: inp.read(CHUNK), b""):
                diff.update(chunk)
                usize += len(chunk)
                gz.write(chunk)
    if inp is not sys.stdin.buffer:
        inp.close()
    digest = "sha256:" + hw.sha.hexdigest()
    os.replace(tmp, os.path.join(blobdir, digest[7:]))
    info = {"mediaType": MEDIA_LAYER, "digest": digest, "size": hw.size,
            "diff_id": "sha256:" + diff.hexdigest(), "uncompressed_size": usize}
    with open(out_json, "w") as f:
        json.dump(info, f, indent=2, sort_keys=True)


def _blob(layout, data):
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(layout, "blobs", "sha256", d), "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + d, "size": len(data)}


def _canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def layout(spec_path, out):
    """spec: {tag, created, architecture, os, config, annotations, layers: [{blob, digest, size, diff_id, comment}]}"""
    with open(spec_path) as f:
        spec = json.load(f)
    shutil.rmtree(out, ignore_errors=True)
    blobs = os.path.join(out, "blobs", "sha256")
    os.makedirs(blobs)
    for layer_ in spec["layers"]:
        dst = os.path.join(blobs, layer_["digest"][7:])
        try:  # the blobs are large: a hard link when the file system allows, else a copy
            os.link(layer_["blob"], dst)
        except OSError:
            shutil.copyfile(layer_["blob"], dst)
    config = {
        "created": spec["created"],
        "architecture": spec["architecture"],
        "os": spec["os"],
        "config": spec["config"],
        "rootfs": {"type": "layers", "diff_ids": [l["diff_id"] for l in spec["layers"]]},
        "history": [{"created": spec["created"], "created_by": l["comment"]} for l in spec["layers"]],
    }
    cfg = dict(mediaType=MEDIA_CONFIG, **_blob(out, _canonical(config)))
    manifest = {
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": cfg,
        "layers": [{"mediaType": MEDIA_LAYER, "digest": l["digest"], "size": l["size"]} for l in spec["layers"]],
        "annotations": spec["annotations"],
    }
    man = dict(mediaType=MEDIA_MANIFEST, **_blob(out, _canonical(manifest)))
    index = {
        "schemaVersion": 2,
        "mediaType": MEDIA_INDEX,
        "manifests": [dict(man, annotations={"org.opencontainers.image.ref.name": spec["tag"]},
                           platform={"architecture": spec["architecture"], "os": spec["os"]})],
    }
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump(index, f, indent=2, sort_keys=True)
    with open(os.path.join(out, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    print(json.dumps({"manifest": man["digest"], "config": cfg["digest"]}))


# ---------------------------------------------------------------------------------------------- SBOM
# Percent-encoding as the purl specification and its reference implementation do (":" stays, "+" becomes %2B).
PURL_SAFE = re.compile(r"[^A-Za-z0-9.~:_-]")


def _purl_part(s):
    return PURL_SAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), s)


def dpkg_packages(status_path):
    """Installed packages of a dpkg status file: [(name, version, arch)]."""
    with open(status_path, encoding="utf-8") as f:
        text = f.read()
    pkgs = []
    for para in text.split("\n\n"):
        fields = {}
        for line in para.splitlines():
            if line and not line[0].isspace() and ":" in line:
                k, v = line.split(":", 1)
                fields[k] = v.strip()
        if fields.get("Package") and fields.get("Status", "").endswith(" installed"):
            pkgs.append((fields["Package"], fields["Version"], fields["Architecture"]))
    return sorted(pkgs)


def maven_libraries(deps_path):
    """quarkus-app-dependencies.txt: one GROUP:ARTIFACT[:CLASSIFIER]:TYPE:VERSION a line (Quarkus writes
    GROUP:ARTIFACT:CLASSIFIER:TYPE:VERSION with an empty classifier as '::'): [(group, artifact, version, classifier, type)]."""
    libs = []
    with open(deps_path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split(":")
            if len(parts) == 5:
                g, a, c, t, v = parts
            elif len(parts) == 4:
                g, a, t, v = parts
                c = ""
            elif len(parts) == 3:
                g, a, v = parts
                c, t = "", "jar"
            else:
                die(f"{deps_path}: cannot read the line {line!r}")
            libs.append((g, a, v, c, t or "jar"))
    return sorted(set(libs))


def sbom(spec_path, out):
    """spec: {name, version, revision, created, manifest_digest, arch, dpkg_status, dependencies, tool, source,
    licenses, app: {group, artifact, version}}"""
    with open(spec_path) as f:
        spec = json.load(f)
    debs = dpkg_packages(spec["dpkg_status"])
    libs = maven_libraries(spec["dependencies"])
    # The document's namespace: unique per image content and the same for the same image.
    ns_uuid = uuid.uuid5(uuid.NAMESPACE_URL, f"oci:{spec['name']}@{spec['manifest_digest']}")
    image_id = "SPDXRef-Image"
    packages = [{
        "SPDXID": image_id,
        "name": spec["name"],
        "versionInfo": spec["version"],
        "supplier": "NOASSERTION",
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False,
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": spec["licenses"],
        "copyrightText": "NOASSERTION",
        "primaryPackagePurpose": "CONTAINER",
        "sourceInfo": f"built from {spec['source']} at revision {spec['revision']}",
        "checksums": [{"algorithm": "SHA256", "checksumValue": spec["manifest_digest"][7:]}],
        "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                          "referenceLocator": f"pkg:oci/{spec['name']}@{_purl_part(spec['manifest_digest'])}"
                                              f"?arch={spec['arch']}&tag={_purl_part(spec['version'])}"}],
    }]
    rels = [{"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": image_id}]

    def add(spdx_id, name, version, purl, purpose, supplier):
        packages.append({
            "SPDXID": spdx_id,
            "name": name,
            "versionInfo": version,
            "supplier": supplier,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": False,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": "NOASSERTION",
            "copyrightText": "NOASSERTION",
            "primaryPackagePurpose": purpose,
            "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                              "referenceLocator": purl}],
        })
        rels.append({"spdxElementId": image_id, "relationshipType": "CONTAINS", "relatedSpdxElement": spdx_id})

    def sid(kind, *parts):
        return f"SPDXRef-{kind}-" + re.sub(r"[^A-Za-z0-9.-]", "-", "-".join(parts))

    for name, version, arch in debs:
        add(sid("deb", name, version, arch), name, version,
            f"pkg:deb/debian/{_purl_part(name)}@{_purl_part(version)}?arch={_purl_part(arch)}",
            "OPERATING-SYSTEM" if name == "base-files" else "LIBRARY", "Organization: Debian")
    app = spec.get("app")
    if app:  # the operator's own jar (in /deployments/app, not among its dependencies)
        add(sid("maven", app["group"], app["artifact"], app["version"]), f"{app['group']}:{app['artifact']}",
            app["version"], f"pkg:maven/{_purl_part(app['group'])}/{_purl_part(app['artifact'])}@{_purl_part(app['version'])}",
            "APPLICATION", "NOASSERTION")
    for g, a, v, c, t in libs:
        qual = []
        if c:
            qual.append(f"classifier={_purl_part(c)}")
        if t != "jar":
            qual.append(f"type={_purl_part(t)}")
        purl = f"pkg:maven/{_purl_part(g)}/{_purl_part(a)}@{_purl_part(v)}" + ("?" + "&".join(qual) if qual else "")
        add(sid("maven", g, a, c, v), f"{g}:{a}" + (f":{c}" if c else ""), v, purl,
            "LIBRARY", "NOASSERTION")
    doc = {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": f"{spec['name']}-{spec['version']}",
        "documentNamespace": f"urn:uuid:{ns_uuid}",
        "creationInfo": {"created": spec["created"], "creators": [f"Tool: {spec['tool']}"],
                         "comment": f"Image {spec['name']}:{spec['version']} {spec['manifest_digest']}: the Debian "
                                    "packages of the base layer's dpkg status and the Java libraries of "
                                    "quarkus-app-dependencies.txt."},
        "packages": packages,
        "relationships": rels,
    }
    with open(out, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    print(json.dumps({"debian_packages": len(debs), "java_libraries": len(libs)}))


# ---------------------------------------------------------------------------------------------- project facts
def chart_command(path):
    """The operator container's `command:` in the Deployment template, a flow sequence of quoted strings."""
    with open(path, encoding="utf-8") as f:
        lines = [l for l in f if re.match(r"^\s*command:\s*\[", l)]
    if len(lines) != 1:
        die(f"{path}: expected exactly one 'command: [...]' line, found {len(lines)}")
    text = lines[0].split(":", 1)[1].strip()
    if "{{" in text:
        die(f"{path}: the command is templated ({text}); the image's entrypoint must be a fixed list")
    try:
        cmd = json.loads(text)
    except json.JSONDecodeError as e:
        die(f"{path}: the command is not a list of double-quoted strings: {e}")
    if not cmd or not all(isinstance(a, str) for a in cmd):
        die(f"{path}: the command is not a non-empty list of strings")
    print(json.dumps(cmd))


def _pom(path):
    root = ET.parse(path).getroot()
    ns = {"m": root.tag[1:].split("}")[0]} if root.tag.startswith("{") else {"m": ""}
    return root, ns


def pom_gav(path):
    """{group, artifact, version} of a POM, the parent's group and version when it sets none."""
    root, ns = _pom(path)
    gav = {}
    for k, tag in (("group", "groupId"), ("artifact", "artifactId"), ("version", "version")):
        e = root.find(f"m:{tag}", ns)
        if e is None and k != "artifact":
            e = root.find(f"m:parent/m:{tag}", ns)
        if e is None or not (e.text or "").strip():
            die(f"{path}: no {tag}")
        gav[k] = e.text.strip()
    print(json.dumps(gav))


def pom_meta(*paths):
    """Licenses (an SPDX expression of the <licenses> names joined by AND) and the source URL (<scm><url>)."""
    licenses = source = None
    for path in paths:
        root, ns = _pom(path)
        if licenses is None:
            names = [n.text.strip() for n in root.findall("m:licenses/m:license/m:name", ns) if n.text]
            licenses = " AND ".join(names) or None
        if source is None:
            u = root.find("m:scm/m:url", ns)
            source = u.text.strip() if u is not None and u.text else None
    print(json.dumps({"licenses": licenses, "source": source}))


def main(argv):
    if len(argv) < 2:
        die(__doc__)
    cmd, args = argv[1], argv[2:]
    if cmd == "layer" and len(args) == 3:
        layer(*args)
    elif cmd == "layout" and len(args) == 2:
        layout(*args)
    elif cmd == "sbom" and len(args) == 2:
        sbom(*args)
    elif cmd == "chart-command" and len(args) == 1:
        chart_command(*args)
    elif cmd == "pom-gav" and len(args) == 1:
        pom_gav(*args)
    elif cmd == "pom-meta" and args:
        pom_meta(*args)
    else:
        die(f"bad arguments: {argv[1:]}\n{__doc__}")


if __name__ == "__main__":
    main(sys.argv)
