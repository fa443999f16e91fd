# shellcheck shell=bash
# Packs layer directories as an OCI image layout by hand and unpacks it with umoci, for tests that
# use umoci as an independent oracle of whiteout semantics. Sourced by tests after common.sh.
#
#   umoci_rootfs OCI BUNDLE LAYER...   packs the LAYERs (bottom first, AUFS whiteouts, as an OCI
#                                      tar layer carries them) into the layout OCI, unpacks it into
#                                      BUNDLE, and sets UMOCI_ROOTFS to BUNDLE/rootfs

# _oci_add_blob OCI FILE: moves FILE into the layout's blobs, named by its digest; sets
# OCI_DIGEST and OCI_SIZE.
_oci_add_blob() {
        OCI_DIGEST=sha256:$(sha256sum "$2" | cut -d' ' -f1)
        OCI_SIZE=$(stat -c %s "$2")
        mv "$2" "$1/blobs/sha256/${OCI_DIGEST#sha256:}"
}

# Uncompressed tar layers (PAX, so that xattrs including security.capability and long names go
# in, holes kept), a config whose diff_ids are the layers' digests, a manifest, an index naming it
# "fixture".
umoci_rootfs() {
        local oci=$1 bundle=$2 layer descs= diff_ids= arch start=$SECONDS
        shift 2
        mkdir -p "$oci/blobs/sha256"
        for layer in "$@"; do
                tar -C "$layer" -cf "$oci/layer.tar" --format=posix \
                        --pax-option=delete=atime,delete=ctime --xattrs --xattrs-include='*' \
                        --numeric-owner --sparse --sort=name . || fail "tar of layer $layer failed"
                _oci_add_blob "$oci" "$oci/layer.tar"
                descs+="${descs:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"$OCI_DIGEST\",\"size\":$OCI_SIZE}"
                diff_ids+="${diff_ids:+,}\"$OCI_DIGEST\""
        done
        arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
        printf '{"created":"2021-03-03T03:03:03Z","architecture":"%s","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[%s]}}' \
                "$arch" "$diff_ids" >"$oci/config.json"
        _oci_add_blob "$oci" "$oci/config.json"
        printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[%s]}' \
                "$OCI_DIGEST" "$OCI_SIZE" "$descs" >"$oci/manifest.json"
        _oci_add_blob "$oci" "$oci/manifest.json"
        printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"fixture"}}]}' \
                "$OCI_DIGEST" "$OCI_SIZE" >"$oci/index.json"
        printf '{"imageLayoutVersion":"1.0.0"}' >"$oci/oci-layout"

        umoci unpack --image "$oci:fixture" "$bundle" >"$oci.umoci.log" 2>&1 ||
                fail "umoci unpack failed: $(tail -n 20 "$oci.umoci.log")"
        echo "umoci unpack: $((SECONDS - start))s"
        UMOCI_ROOTFS=$bundle/rootfs
        [ -n "$(ls -A "$UMOCI_ROOTFS")" ] || fail "umoci made no rootfs"
}
