#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::{LIMITS, Limits, read_with};

const CUSTOMIZATIONS: &str = "<ImportExportXml><SdkMessageProcessingSteps /></ImportExportXml>";

/// Small limits, so that each bound is reached with a few KiB.
const SMALL: Limits =
    Limits { archive_bytes: 1 << 20, directory_bytes: 4096, entries: 10, entry_bytes: 1000, total_bytes: 1500 };

fn zip_file(name: &str, entries: &[(&str, Vec<u8>)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("xrm-archive-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.zip"));
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (entry, bytes) in entries {
        zip.start_file(*entry, options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
    path
}

fn error(path: &Path, limits: &Limits) -> String {
    match read_with(path, limits) {
        Ok(_) => panic!("{} was read", path.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_solution_zip_within_the_limits_is_read() {
    let path = zip_file("fine", &[("customizations.xml", CUSTOMIZATIONS.into()), ("Other.dll", vec![0; 5000])]);
    assert!(read_with(&path, &SMALL).is_ok(), "entries the import does not read count for nothing");
}

#[test]
fn a_zip_bomb_is_cut_at_the_entry_cap() {
    // 100 KiB of spaces deflate to a few hundred bytes.
    let bomb = format!("{CUSTOMIZATIONS}{}", " ".repeat(100 << 10));
    let path = zip_file("bomb", &[("customizations.xml", bomb.into_bytes())]);
    assert!(std::fs::metadata(&path).unwrap().len() < 2000);
    let e = error(&path, &SMALL);
    assert!(e.contains("bomb.zip!/customizations.xml") && e.contains("more than 1000 bytes"), "{e}");
}

#[test]
fn an_entry_that_lies_about_its_size_is_still_cut_at_the_cap() {
    let big = format!("{CUSTOMIZATIONS}{}", " ".repeat(5000));
    let path = zip_file("liar", &[("customizations.xml", big.into_bytes())]);
    // Rewrite the declared unpacked size (local header at 22, central header at 24) to 10 bytes.
    let mut bytes = std::fs::read(&path).unwrap();
    let central = bytes.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
    bytes[22..26].copy_from_slice(&10u32.to_le_bytes());
    bytes[central + 24..central + 28].copy_from_slice(&10u32.to_le_bytes());
    std::fs::write(&path, bytes).unwrap();
    let e = error(&path, &SMALL);
    assert!(e.contains("liar.zip!/customizations.xml"), "{e}");
}

#[test]
fn what_the_entries_unpack_to_together_is_bounded() {
    let part = |n: usize| format!("<customapi uniquename=\"a{n}\">{}</customapi>", " ".repeat(800)).into_bytes();
    let path = zip_file(
        "total",
        &[
            ("customizations.xml", CUSTOMIZATIONS.into()),
            ("customapis/a1/customapi.xml", part(1)),
            ("customapis/a2/customapi.xml", part(2)),
        ],
    );
    let e = error(&path, &SMALL);
    assert!(e.contains("total.zip") && e.contains("unpack to more than 1500 bytes"), "{e}");
}

#[test]
fn too_many_entries_are_refused_before_the_directory_is_read() {
    let entries: Vec<(String, Vec<u8>)> = (0..20).map(|i| (format!("f{i}.txt"), vec![b'x'])).collect();
    let entries: Vec<(&str, Vec<u8>)> = entries.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    let path = zip_file("many", &entries);
    let e = error(&path, &SMALL);
    assert!(e.contains("many.zip") && e.contains("declares 20 entries"), "{e}");
    assert!(read_with(&path, &LIMITS).is_err_and(|e| e.to_string().contains("no customizations.xml")));
}

#[test]
fn an_entry_named_outside_the_archive_is_refused() {
    for name in ["../customizations.xml", "/etc/customizations.xml", "customapis/../../x.xml", "C:/x.xml"] {
        let path = zip_file("escape", &[("customizations.xml", CUSTOMIZATIONS.into()), (name, b"<x />".to_vec())]);
        let e = error(&path, &LIMITS);
        assert!(e.contains(&format!("`{name}`")) && e.contains("outside the archive"), "{name}: {e}");
    }
}

#[test]
fn a_corrupt_or_truncated_archive_gets_one_error() {
    let path = zip_file("cut", &[("customizations.xml", CUSTOMIZATIONS.into())]);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let e = error(&path, &LIMITS);
    assert!(e.contains("cut.zip") && e.contains("not a solution zip") && !e.contains('\n'), "{e}");
    std::fs::write(&path, b"PK\x03\x04 and then nothing a zip holds").unwrap();
    assert!(error(&path, &LIMITS).contains("not a solution zip"));
}

#[test]
fn a_zip_larger_than_the_cap_is_refused_unopened() {
    // Bytes that do not deflate: a linear congruential sequence.
    let noise: Vec<u8> =
        (0u32..3000).map(|i| (i.wrapping_mul(1_103_515_245).wrapping_add(12_345) >> 16) as u8).collect();
    let path = zip_file("large", &[("customizations.xml", CUSTOMIZATIONS.into()), ("web.js", noise)]);
    let limits = Limits { archive_bytes: 1000, ..SMALL };
    let e = error(&path, &limits);
    assert!(e.contains("larger than 1000 bytes"), "{e}");
}
