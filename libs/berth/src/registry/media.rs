//! Which manifests are images berth pulls: the config and layer media types Docker's puller
//! accepts, and the size a config may have. Anything else (an artifact, a layer berth cannot
//! unpack) is refused before a blob is fetched.

use oci_spec::image::ImageManifest;

use crate::image::DOCKER_CONFIG;
use crate::store::MAX_JSON_BLOB;

/// The config media types of images (Docker's puller accepts these two and refuses the rest).
pub const IMAGE_CONFIG_TYPES: [&str; 2] =
    ["application/vnd.oci.image.config.v1+json", DOCKER_CONFIG];

/// What Docker calls a config media type's class in its refusal ("Encountered remote
/// \"TYPE\"(CLASS) when fetching").
fn config_class(media_type: &str) -> &'static str {
    match media_type {
        "application/vnd.docker.plugin.v1+json" => "plugin",
        t if IMAGE_CONFIG_TYPES.contains(&t) => "image",
        _ => "unknown",
    }
}

/// Refuses a manifest that is not an image berth can pull: its config is not an image config
/// (an artifact: a Helm chart, a signature, a WASM module, a Docker plugin), a layer has a
/// media type berth cannot unpack, or the config is declared larger than a config may be.
pub fn check_image_manifest(m: &ImageManifest) -> std::result::Result<(), String> {
    let config = m.config();
    let ct = config.media_type().to_string();
    if !IMAGE_CONFIG_TYPES.contains(&ct.as_str()) {
        return Err(format!(
            "encountered remote {ct:?}({}) when fetching: the config {} is not an image \
             config, so this is not an image (an artifact?), refused",
            config_class(&ct),
            config.digest()
        ));
    }
    if config.size() > MAX_JSON_BLOB {
        return Err(format!(
            "the config {} is declared {} bytes, more than the {} MiB a config may be, refused",
            config.digest(),
            config.size(),
            MAX_JSON_BLOB >> 20
        ));
    }
    for l in m.layers() {
        let lt = l.media_type().to_string();
        if !crate::layer::is_layer_type(&lt) {
            return Err(format!(
                "layer {}: unsupported media type {lt:?}, refused",
                l.digest()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const LAYER_TYPES: [&str; 2] = [
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
    ];

    fn manifest(config_type: &str, config_size: u64, layer_types: &[&str]) -> ImageManifest {
        let d = |mt: &str, size: u64, n: usize| json!({"mediaType": mt, "size": size, "digest": format!("sha256:{:064x}", n)});
        serde_json::from_value(json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": d(config_type, config_size, 0),
            "layers": layer_types.iter().enumerate().map(|(i, t)| d(t, 10, i + 1)).collect::<Vec<_>>(),
        }))
        .unwrap()
    }

    #[test]
    fn images_of_every_accepted_type_pass() {
        for c in IMAGE_CONFIG_TYPES {
            check_image_manifest(&manifest(c, 100, &LAYER_TYPES)).unwrap();
        }
        check_image_manifest(&manifest(DOCKER_CONFIG, MAX_JSON_BLOB, &[])).unwrap();
    }

    #[test]
    fn artifacts_are_refused_as_docker_does() {
        for (c, class) in [
            ("application/vnd.oci.empty.v1+json", "unknown"),
            ("application/vnd.cncf.helm.config.v1+json", "unknown"),
            ("application/vnd.docker.plugin.v1+json", "plugin"),
            ("application/octet-stream", "unknown"),
        ] {
            let e = check_image_manifest(&manifest(c, 2, &[LAYER_TYPES[1]])).unwrap_err();
            assert!(
                e.contains(&format!("encountered remote {c:?}({class}) when fetching")),
                "{e}"
            );
            assert!(e.contains(&format!("sha256:{:064x}", 0)), "{e}");
            assert!(e.contains("not an image"), "{e}");
        }
    }

    #[test]
    fn unknown_layer_types_are_named_with_their_digest() {
        for bad in [
            "application/vnd.oci.image.layer.v1.tar+bzip2",
            "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
            "application/vnd.docker.image.rootfs.diff.tar+zstd",
            "application/octet-stream",
            "",
        ] {
            let m = manifest(IMAGE_CONFIG_TYPES[0], 2, &[LAYER_TYPES[1], bad]);
            let e = check_image_manifest(&m).unwrap_err();
            assert!(
                e.contains(&format!("unsupported media type {bad:?}")),
                "{e}"
            );
            assert!(e.contains(&format!("layer sha256:{:064x}", 2)), "{e}");
        }
    }

    #[test]
    fn a_config_declared_over_the_cap_is_refused_before_download() {
        let e = check_image_manifest(&manifest(DOCKER_CONFIG, MAX_JSON_BLOB + 1, &[])).unwrap_err();
        assert!(e.contains(&format!("{} bytes", MAX_JSON_BLOB + 1)), "{e}");
        assert!(e.contains("4 MiB"), "{e}");
    }
}
