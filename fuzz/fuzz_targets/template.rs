//! The Go-template engine behind `--format` (`berth::template`): any text, after Docker's
//! `table` and `\t`/`\n` handling, either fails to parse with an error or parses and then
//! renders (or fails with an error) against a fixed value shaped like what the tools print,
//! without panicking and in bounded time; rendering is deterministic.
#![no_main]

use std::sync::OnceLock;

use berth::template::{split_table, Template};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

fn data() -> &'static Value {
    static DATA: OnceLock<Value> = OnceLock::new();
    DATA.get_or_init(|| {
        json!({
            "ID": "3f57d9401f8d42f986df300f0c69192fc41da28ccc8d797829467780db3dd741",
            "Names": ["web", "db"],
            "Image": "docker.io/library/busybox:latest",
            "Size": 4261550,
            "Ratio": 0.5,
            "Neg": -3,
            "Running": true,
            "Nothing": null,
            "Empty": "",
            "Config": {
                "Cmd": ["sh", "-c", "echo hi"],
                "Env": ["PATH=/usr/bin", "A=b=c"],
                "Labels": {"com.example.a": "1", "b": "two words"},
                "ExposedPorts": {"80/tcp": {}, "53/udp": {}}
            },
            "NetworkSettings": {
                "Networks": {"bridge": {"IPAddress": "172.17.0.2", "Aliases": null}}
            },
            "Mounts": [
                {"Type": "volume", "Source": "/v", "Destination": "/data", "RW": true},
                {"Type": "bind", "Source": "/h", "Destination": "/x", "RW": false}
            ]
        })
    })
}

fuzz_target!(|input: &[u8]| {
    let Ok(s) = std::str::from_utf8(input) else {
        return;
    };
    let (_table, format) = split_table(s);
    let Ok(t) = Template::parse(&format) else {
        return;
    };
    let first = t.render(data()).map_err(|e| e.to_string());
    let second = t.render(data()).map_err(|e| e.to_string());
    assert_eq!(first, second, "{format:?} renders differently twice");
});
