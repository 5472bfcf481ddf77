//! Readers on files the tests write in the real layouts, malformed files, the preparation
//! on a planted spectrum, the stream, and (when present) the shared MNIST / Fashion-MNIST.

use flate2::Compression;
use flate2::write::GzEncoder;
use hdgan_data::{
    CIFAR_RECORD, Colour, DataError, Dataset, ImageSet, ImageStream, Prepared, parse_idx,
    read_cifar10, read_idx_images,
};
use hdgan_micro_sim::RealSamples;
use hdgan_model::random::stream_rng;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// IDX bytes: magic 00 00 08 k, big-endian dims, data.
fn idx_bytes(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        v.extend(d.to_be_bytes());
    }
    v.extend(data);
    v
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// The message of a malformed-file error, asserting that it is one and names the file.
fn malformed(r: Result<ImageSet, DataError>, file: &str) -> String {
    match r {
        Err(e @ DataError::Malformed { .. }) => {
            let m = e.to_string();
            assert!(m.contains(file), "error does not name {file}: {m}");
            m
        }
        other => panic!("expected a malformed-file error for {file}, got {other:?}"),
    }
}

#[test]
fn idx_raw_and_gzip_with_labels() {
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..3 * 2 * 4).map(|i| i as u8).collect();
    let images = idx_bytes(&[3, 2, 4], &data);
    let labels = idx_bytes(&[3], &[7, 1, 9]);
    for gz in [false, true] {
        let (img, lab) = if gz {
            (gzip(&images), gzip(&labels))
        } else {
            (images.clone(), labels.clone())
        };
        let suffix = if gz { ".gz" } else { "" };
        let ip = write(dir.path(), &format!("x-images-idx3-ubyte{suffix}"), &img);
        write(dir.path(), &format!("x-labels-idx1-ubyte{suffix}"), &lab);
        let set = Dataset::Mnist.load(&ip, Colour::Grey).unwrap();
        assert_eq!((set.count, set.shape, set.dim()), (3, (2, 4, 1), 8));
        assert_eq!(set.image(1), &data[8..16]);
        assert_eq!(set.labels.as_deref(), Some(&[7u8, 1, 9][..]));
    }
}

#[test]
fn idx_malformed_files_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let good = idx_bytes(&[2, 2, 2], &[0; 8]);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "magic",
            {
                let mut b = good.clone();
                b[0] = 0x12;
                b
            },
            "wrong magic",
        ),
        (
            "type",
            {
                let mut b = good.clone();
                b[2] = 0x0d;
                b
            },
            "not supported",
        ),
        ("short-header", good[..6].to_vec(), "truncated"),
        ("tiny", vec![0, 0], "too short"),
        ("truncated", good[..good.len() - 3].to_vec(), "truncated"),
        ("extra", [good.clone(), vec![1, 2]].concat(), "wrong size"),
        ("dims", idx_bytes(&[8], &[0; 8]), "3 dimensions"),
        ("bad-gzip", gzip(&good)[..20].to_vec(), "gzip"),
    ];
    for (name, bytes, rule) in cases {
        let p = write(dir.path(), &format!("{name}-images-idx3-ubyte"), &bytes);
        let m = malformed(read_idx_images(&p, None), name);
        assert!(m.contains(rule), "{name}: {m}");
    }
    // Labels that disagree with the images.
    let ip = write(dir.path(), "ok-images-idx3-ubyte", &good);
    let lp = write(
        dir.path(),
        "ok-labels-idx1-ubyte",
        &idx_bytes(&[3], &[0; 3]),
    );
    let m = malformed(read_idx_images(&ip, Some(&lp)), "ok-labels");
    assert!(m.contains("label file"), "{m}");
    // parse_idx on its own.
    assert!(parse_idx(&idx_bytes(&[2], &[1, 2]), Path::new("x")).is_ok());
    // A missing path is an I/O error naming it.
    let e = Dataset::FashionMnist
        .load(&dir.path().join("nope.gz"), Colour::Grey)
        .unwrap_err();
    assert!(matches!(e, DataError::Io { .. }) && e.to_string().contains("nope.gz"));
}

/// A CIFAR-10 batch in the real layout: records of 1 label byte + R, G, B planes of 32 x 32.
fn cifar_batch(records: usize, seed: u8) -> Vec<u8> {
    let mut v = Vec::with_capacity(records * CIFAR_RECORD);
    for r in 0..records {
        v.push((r % 10) as u8);
        for plane in 0..3usize {
            for k in 0..1024usize {
                v.push(((k * (plane + 1) + r * 7 + seed as usize) % 256) as u8);
            }
        }
    }
    v
}

#[test]
fn cifar10_colour_grey_and_folder() {
    let dir = tempfile::tempdir().unwrap();
    let b1 = cifar_batch(3, 0);
    let b2 = cifar_batch(2, 5);
    write(dir.path(), "data_batch_1.bin", &b1);
    write(dir.path(), "data_batch_2.bin", &b2);
    write(dir.path(), "batches.meta.txt", b"airplane\n");
    let one = read_cifar10(&dir.path().join("data_batch_1.bin"), Colour::Rgb).unwrap();
    assert_eq!((one.count, one.shape, one.dim()), (3, (32, 32, 3), 3072));
    assert_eq!(one.image(2), &b1[2 * CIFAR_RECORD + 1..3 * CIFAR_RECORD]);
    assert_eq!(one.labels.as_deref(), Some(&[0u8, 1, 2][..]));
    let grey = read_cifar10(&dir.path().join("data_batch_1.bin"), Colour::Grey).unwrap();
    assert_eq!((grey.dim(), grey.shape), (1024, (32, 32, 1)));
    // Pixel 5 of record 1: luma of its R, G, B bytes.
    let rec = &b1[CIFAR_RECORD + 1..2 * CIFAR_RECORD];
    let y = 0.299 * f64::from(rec[5])
        + 0.587 * f64::from(rec[1024 + 5])
        + 0.114 * f64::from(rec[2048 + 5]);
    assert_eq!(grey.image(1)[5], y.round() as u8);
    let all = Dataset::Cifar10.load(dir.path(), Colour::Rgb).unwrap();
    assert_eq!(all.count, 5);
    assert_eq!(all.image(3), &b2[1..CIFAR_RECORD]);
    assert_eq!(all.labels.as_ref().map(Vec::len), Some(5));
}

#[test]
fn cifar10_malformed_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let good = cifar_batch(2, 0);
    let p = write(dir.path(), "short.bin", &good[..good.len() - 100]);
    assert!(malformed(read_cifar10(&p, Colour::Rgb), "short.bin").contains("multiple"));
    let p = write(dir.path(), "empty.bin", &[]);
    malformed(read_cifar10(&p, Colour::Grey), "empty.bin");
    let mut bad = good.clone();
    bad[CIFAR_RECORD] = 200;
    let p = write(dir.path(), "label.bin", &bad);
    assert!(malformed(read_cifar10(&p, Colour::Rgb), "label.bin").contains("record 1"));
    let empty = tempfile::tempdir().unwrap();
    malformed(read_cifar10(empty.path(), Colour::Rgb), "");
}

/// Images drawn from a planted spiked model `x = 128 + s (U c + a)` with `c ~ N(0,
/// diag(40, 15))`, `a ~ N(0, I)`: the preparation recovers the spikes (scaled spectrum
/// `Lam + 1` up to sampling error) and the subspace, and the stream serves every image once
/// per epoch in model units.
#[test]
fn preparation_recovers_a_planted_spike_and_streams_epochs() {
    let (n, count, s) = (32usize, 4000usize, 6.0);
    let mut rng = stream_rng(11, 0);
    let mut pixels = Vec::with_capacity(n * count);
    let lam: [f64; 2] = [40.0, 15.0];
    // U: the first two coordinate axes rotated by 45 degrees within coordinates 0..4.
    let h = std::f64::consts::FRAC_1_SQRT_2;
    let u = [[h, h, 0.0, 0.0], [0.0, 0.0, h, -h]];
    for _ in 0..count {
        let c = [lam[0].sqrt() * rng.normal(), lam[1].sqrt() * rng.normal()];
        for i in 0..n {
            let mut x = rng.normal();
            if i < 4 {
                x += c[0] * u[0][i] + c[1] * u[1][i];
            }
            pixels.push((128.0 + s * x).round().clamp(0.0, 255.0) as u8);
        }
    }
    let set = ImageSet {
        source: "planted".into(),
        count,
        shape: (n, 1, 1),
        pixels,
        labels: None,
    };
    let prep = Prepared::new(&set, 2).unwrap();
    let eff = prep.effective();
    // Sampling error of an eigenvalue ~ lam sqrt(2 / count) (3.5% here); the bulk mean
    // is 1 by construction and the rounding to bytes adds variance 1/(12 s^2).
    for (e, l) in eff.iter().zip(lam) {
        assert!(
            (e - l).abs() < 4.0 * l * (2.0 / count as f64).sqrt() + 0.5,
            "{eff:?}"
        );
    }
    assert!((prep.scale - s).abs() < 0.1 * s, "scale {}", prep.scale);
    // The reference spans U: |U^T ref| has singular values near 1.
    for j in 0..2 {
        let col = &prep.reference[j * n..(j + 1) * n];
        let proj: f64 = (0..2)
            .map(|k| (0..4).map(|i| u[k][i] * col[i]).sum::<f64>().powi(2))
            .sum();
        assert!(proj > 0.98, "column {j} projects {proj}");
    }
    // Stream: one epoch visits each image once; values are (x - mean) / scale.
    let set = Arc::new(set);
    let prep = Arc::new(prep);
    let mut stream = ImageStream::new(Arc::clone(&set), Arc::clone(&prep), stream_rng(3, 0));
    let mut twin = stream.clone();
    let mut rng = stream_rng(3, 0);
    let mut seen = vec![0u32; count];
    let mut order = Vec::new();
    for _ in 0..count {
        let i = stream.next_index();
        seen[i] += 1;
        order.push(i);
    }
    assert!(seen.iter().all(|&k| k == 1));
    assert_eq!(stream.epochs(), 1);
    // The order is the stream's own: an engine's generator passed in does not change it.
    let mut y = vec![0.0; n];
    for &i in &order {
        twin.next_into(&mut rng, &mut y);
        let mut want = vec![0.0; n];
        prep.transform_into(set.image(i), &mut want);
        assert_eq!(y, want);
    }
    stream.next_into(&mut rng, &mut y);
    assert_eq!(stream.epochs(), 2);
    let norm_sq: f64 = y.iter().map(|v| v * v).sum();
    assert!(norm_sq.is_finite() && norm_sq > 0.0);
    // Too few images or a d too large are clear errors.
    let tiny = ImageSet {
        source: "tiny".into(),
        count: 10,
        shape: (n, 1, 1),
        pixels: vec![0; 10 * n],
        labels: None,
    };
    assert!(
        Prepared::new(&tiny, 2)
            .unwrap_err()
            .to_string()
            .contains("tiny")
    );
    assert!(
        Prepared::new(&set, 16)
            .unwrap_err()
            .to_string()
            .contains("d = 16")
    );
}

/// The MNIST and Fashion-MNIST files in `$HDGAN_DATA`, when set: sizes and labels as
/// their README says. Skips with a printed reason otherwise.
#[test]
fn shared_idx_files_when_present() {
    let Some(dir) = std::env::var_os("HDGAN_DATA").map(std::path::PathBuf::from) else {
        println!("skipped: HDGAN_DATA is not set");
        return;
    };
    if !dir.is_dir() {
        println!("skipped: HDGAN_DATA = {} is absent", dir.display());
        return;
    }
    for (ds, count) in [(Dataset::Mnist, 10_000), (Dataset::FashionMnist, 70_000)] {
        let set = ds.load(&dir, Colour::Grey).unwrap();
        assert_eq!(
            (set.count, set.shape),
            (count, (28, 28, 1)),
            "{}",
            ds.name()
        );
        let labels = set.labels.as_ref().expect("labels beside the images");
        assert!(labels.iter().all(|&l| l < 10));
    }
}

#[test]
fn split_off_keeps_images_and_labels_together() {
    let mut set = ImageSet {
        source: "s".into(),
        count: 5,
        shape: (2, 1, 1),
        pixels: (0..10).collect(),
        labels: Some(vec![0, 1, 2, 3, 4]),
    };
    let held = set.split_off(2);
    assert_eq!((set.count, held.count), (3, 2));
    assert_eq!(set.pixels, vec![0, 1, 2, 3, 4, 5]);
    assert_eq!(held.pixels, vec![6, 7, 8, 9]);
    assert_eq!(held.labels, Some(vec![3, 4]));
    assert_eq!(held.image(1), &[8, 9]);
    let all = set.split_off(10);
    assert_eq!((set.count, all.count), (0, 3));
}
