//! The harness end to end: a pcap replayed through the datapath comes out of
//! port 2 as a pcap that tcpdump reads with the same packet count, and the
//! JSON report carries the promised keys.

use std::process::Command;

fn udp_frame(i: u16) -> Vec<u8> {
    let mut b = vec![0u8; 60];
    b[0..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
    b[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    b[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    b[14] = 0x45;
    b[16..18].copy_from_slice(&46u16.to_be_bytes());
    b[22] = 64;
    b[23] = 17;
    b[26..30].copy_from_slice(&[10, 0, 0, 1]);
    b[30..34].copy_from_slice(&[10, 0, 0, 2]);
    b[34..36].copy_from_slice(&(1000 + i).to_be_bytes());
    b[36..38].copy_from_slice(&53u16.to_be_bytes());
    b[38..40].copy_from_slice(&26u16.to_be_bytes());
    b
}

fn write_pcap(path: &std::path::Path, n: u16) {
    use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
    let file = std::fs::File::create(path).expect("create pcap");
    let mut w = PcapWriter::with_header(file, PcapHeader::default()).expect("pcap header");
    for i in 0..n {
        let f = udp_frame(i);
        let p = PcapPacket::new(
            std::time::Duration::from_micros(i as u64),
            f.len() as u32,
            &f,
        );
        w.write_packet(&p).expect("write packet");
    }
}

#[test]
fn pcap_in_pcap_out_read_by_tcpdump() {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("in.pcap");
    let output = dir.path().join("out.pcap");
    write_pcap(&input, 500);
    let out = Command::new(env!("CARGO_BIN_EXE_oxvs-bench"))
        .args(["replay", "--pcap"])
        .arg(&input)
        .args(["--loops", "3", "--out-pcap"])
        .arg(&output)
        .args(["--core", "0", "--json"])
        .output()
        .expect("run oxvs-bench");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    for key in [
        "mpps",
        "ns_per_packet",
        "emc_hit_rate",
        "megaflow_hit_rate",
        "upcalls_per_sec",
        "megaflows",
        "bytes_per_megaflow",
    ] {
        assert!(report.get(key).is_some(), "missing {key} in {report}");
    }
    assert_eq!(report["packets"], 1500);
    assert_eq!(report["tx_packets"], 1500);
    assert_eq!(report["megaflows"], 1, "port forwarding needs one megaflow");

    let tcpdump = ["/usr/bin/tcpdump", "/usr/sbin/tcpdump"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let Some(tcpdump) = tcpdump else {
        panic!("tcpdump is not installed (apt-get install tcpdump; scripts/test.sh does it)");
    };
    let out = Command::new(tcpdump)
        .arg("-nr")
        .arg(&output)
        .output()
        .expect("run tcpdump");
    assert!(
        out.status.success(),
        "tcpdump: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = String::from_utf8_lossy(&out.stdout).lines().count();
    assert_eq!(lines, 1500);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("10.0.0.1.1000 > 10.0.0.2.53"),
        "{}",
        text.lines().next().unwrap_or("")
    );
}

#[test]
fn bad_arguments_fail_with_a_message() {
    for args in [
        vec!["replay", "--masks", "0"],
        vec!["replay", "--pcap", "/nonexistent.pcap"],
        vec!["replay", "--size", "10"],
        vec!["replay", "--rules", "/nonexistent"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_oxvs-bench"))
            .args(&args)
            .output()
            .expect("run");
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(!out.stderr.is_empty(), "{args:?} said nothing");
    }
}
