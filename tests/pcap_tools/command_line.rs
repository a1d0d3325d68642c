//! The tools' command lines: `--help` and `--version`, bad arguments, inputs that are not
//! captures, an output that is the input, and a reader that goes away.

use super::*;

#[test]
fn bad_arguments_and_unreadable_inputs_fail_clearly() {
    // Bad arguments exit 2 (clap's usage status), an input that cannot be read 1.
    let geneve = |option: &'static str| -> &'static [&'static str] {
        Box::leak(Box::new([
            "--geneve",
            "--geneve-opt",
            option,
            "--vni",
            "1",
            "--src-ip",
            "1.1.1.1",
            "--dst-ip",
            "2.2.2.2",
            "a",
            "b",
        ]))
    };
    let cases: [(&str, &[&str], &[&str], i32); 13] = [
        (
            "encap",
            geneve("0x0102:0x80:000102"),
            &["--geneve-opt", "option data length", "3 is out of range"],
            2,
        ),
        (
            "encap",
            geneve("0x10000:1:"),
            &[
                "--geneve-opt",
                "class \"0x10000\" is not a number up to 0xffff",
            ],
            2,
        ),
        (
            "encap",
            geneve("1:2:zz000000"),
            &["--geneve-opt", "is not hex"],
            2,
        ),
        ("encap", geneve("1:2"), &["expected CLASS:TYPE:HEX"], 2),
        (
            "encap",
            &[
                "--geneve-opt",
                "1:2:",
                "--vni",
                "1",
                "--src-ip",
                "1.1.1.1",
                "--dst-ip",
                "2.2.2.2",
                "a",
                "b",
            ],
            &["--geneve"],
            2,
        ),
        (
            "encap",
            &[
                "--vni", "16777216", "--src-ip", "1.1.1.1", "--dst-ip", "2.2.2.2", "a", "b",
            ],
            &[
                "--vni",
                "VNI (24 bits, at most 16777215) 16777216 is out of range",
            ],
            2,
        ),
        (
            "encap",
            &["--vni", "1", "--src-ip", "1.1.1.1", "a", "b"],
            &["required arguments were not provided", "--dst-ip"],
            2,
        ),
        (
            "encap",
            &[
                "--nvgre", "--vni", "42", "--src-ip", "1.1.1.1", "--dst-ip", "2.2.2.2", "a", "b",
            ],
            &["VSID 42 is reserved"],
            2,
        ),
        (
            "encap",
            &[
                "--vni",
                "1",
                "--src-ip",
                "1.1.1.1",
                "--dst-ip",
                "2.2.2.2",
                "--port-range",
                "60000-50000",
                "a",
                "b",
            ],
            &["--port-range", "60000 is above 50000"],
            2,
        ),
        (
            "translate",
            &["--to", "gre", "a", "b"],
            &[
                "invalid value 'gre' for '--to",
                "possible values: nvgre, vxlan, geneve",
            ],
            2,
        ),
        (
            "translate",
            &["--to", "nvgre", "--flow-id", "256", "a", "b"],
            &["--flow-id", "0-255"],
            2,
        ),
        ("dissect", &[], &["required arguments", "<FILE>"], 2),
        ("decap", &["/nonexistent.pcap", "b"], &["No such file"], 1),
    ];
    for (name, args, messages, status) in cases {
        let args: Vec<&Path> = args.iter().map(Path::new).collect();
        let out = run(name, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.code() == Some(status) && messages.iter().all(|m| stderr.contains(m)),
            "{name} {args:?}: {:?} {stderr}",
            out.status
        );
    }
}

#[test]
fn every_tool_answers_help_and_version() {
    for name in [
        "dissect",
        "encap",
        "decap",
        "translate",
        "pcap_roundtrip",
        "vni_stats",
    ] {
        let help = run(name, &[Path::new("--help")]);
        let text = String::from_utf8_lossy(&help.stdout);
        assert!(
            help.status.success() && text.contains(&format!("Usage: {name} ")),
            "{name} --help: {text}"
        );
        let version = run(name, &[Path::new("--version")]);
        assert!(version.status.success(), "{name} --version");
        assert_eq!(
            String::from_utf8_lossy(&version.stdout),
            format!("{name} {}\n", env!("CARGO_PKG_VERSION"))
        );
    }
}

#[test]
fn an_output_that_is_the_input_is_refused_and_the_input_kept() {
    let scratch = Scratch::new("an_output_that_is_the_input_is_refused_and_the_input_kept");
    let vni = [
        "--vni", "5000", "--src-ip", "10.0.0.1", "--dst-ip", "10.0.0.2",
    ];
    let tools: [(&str, &[&str]); 4] = [
        ("decap", &[]),
        ("encap", &vni),
        ("translate", &["--to", "nvgre"]),
        ("pcap_roundtrip", &[]),
    ];
    let original = std::fs::read(data("kernel.pcap")).unwrap();
    for (name, flags) in tools {
        let input = scratch.file(&format!("{name}-in.pcap"));
        std::fs::write(&input, &original).unwrap();
        let (hard, symbolic) = (
            scratch.file(&format!("{name}-hard.pcap")),
            scratch.file(&format!("{name}-symbolic.pcap")),
        );
        std::fs::hard_link(&input, &hard).unwrap();
        std::os::unix::fs::symlink(&input, &symbolic).unwrap();
        // The same name, another spelling of it, a hard link and a symbolic link.
        let dotted = scratch.0.join(".").join(format!("{name}-in.pcap"));
        for output in [&input, &dotted, &hard, &symbolic] {
            let mut args: Vec<&Path> = flags.iter().map(Path::new).collect();
            args.extend([input.as_path(), output.as_path()]);
            let out = run(name, &args);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.code() == Some(2)
                    && stderr.contains(&format!("the output {} is the input", output.display())),
                "{name} {output:?}: {:?} {stderr}",
                out.status
            );
            assert!(
                std::fs::read(&input).unwrap() == original,
                "{name} {output:?} changed its input"
            );
        }
        // Another file with the same bytes is not the input: it is overwritten.
        let copy = scratch.file(&format!("{name}-copy.pcap"));
        std::fs::write(&copy, &original).unwrap();
        let mut args: Vec<&Path> = flags.iter().map(Path::new).collect();
        args.extend([input.as_path(), copy.as_path()]);
        tool(name, &args);
        assert_eq!(std::fs::read(&input).unwrap(), original, "{name}");
    }
}

#[test]
fn inputs_that_are_not_captures_are_named_so() {
    let scratch = Scratch::new("inputs_that_are_not_captures_are_named_so");
    let png = [
        0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n', 0, 0, 0, 13,
    ];
    let inputs: [(&str, &[u8]); 4] = [
        ("notes.txt", b"frame 1: 10.0.0.1 -> 10.0.0.2\n"),
        ("picture.png", &png),
        ("empty.pcap", b""),
        // The pcapng magic number, then no valid section header.
        ("bad.pcapng", b"\n\r\r\nnot a section header at all"),
    ];
    let output = scratch.file("out.pcap");
    for (file, bytes) in inputs {
        let input = scratch.file(file);
        std::fs::write(&input, bytes).unwrap();
        let vni = [
            "--vni", "5000", "--src-ip", "10.0.0.1", "--dst-ip", "10.0.0.2",
        ];
        let mut encap: Vec<&Path> = vni.iter().map(Path::new).collect();
        encap.extend([input.as_path(), output.as_path()]);
        let runs: [(&str, Vec<&Path>); 6] = [
            ("dissect", vec![&input]),
            ("vni_stats", vec![&input]),
            ("decap", vec![&input, &output]),
            ("encap", encap),
            (
                "translate",
                vec![Path::new("--to"), Path::new("vxlan"), &input, &output],
            ),
            ("pcap_roundtrip", vec![&input, &output]),
        ];
        for (name, args) in runs {
            let out = run(name, &args);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.code() == Some(1)
                    && stderr.contains(&format!("{}: not a pcap or pcapng file", input.display())),
                "{name} {file}: {stderr}"
            );
        }
    }
}

#[test]
fn dissect_stops_quietly_when_its_reader_goes_away() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let scratch = Scratch::new("dissect_stops_quietly_when_its_reader_goes_away");
    // Far more JSON than a pipe holds, so dissect is still writing when the pipe closes.
    let kernel = records(&data("kernel.pcap"));
    let many: Vec<PcapPacket<'_>> = kernel
        .iter()
        .cycle()
        .take(100 * kernel.len())
        .cloned()
        .collect();
    let capture = scratch.file("many.pcap");
    write_pcap(&capture, BIG_ENDIAN_NANOSECONDS, &many);
    run("dissect", &[Path::new("--version")]);
    let mut child = Command::new(example("dissect"))
        .arg(&capture)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // As `dissect FILE | head -1` does: read a line, then close the pipe.
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("{\"frame\":1,"), "{first}");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.is_empty(),
        "{:?}: {stderr}",
        out.status
    );
}
