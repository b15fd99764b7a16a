//! Every loader on small files the tests write: good files load to the right
//! values; bad ones give an error naming the file and what was wrong.

mod common;

use common::*;
use deepscope::data::{self, Channels, CsvLayout, LabelColumn};
use tch::{Kind, Tensor};

fn layout(label: LabelColumn, max: f32) -> CsvLayout {
    CsvLayout {
        label,
        height: 2,
        width: 2,
        max_value: max,
        num_classes: 3,
    }
}

#[test]
fn idx_pair_loads_raw_and_gzipped_alike() {
    let dir = tempfile::tempdir().unwrap();
    let (px, lb) = tiny_images(5, 3, 2, 4);
    let raw_x = write(dir.path(), "x.idx", &idx_bytes(&[5, 3, 2], &px));
    let raw_y = write(dir.path(), "y.idx", &idx_bytes(&[5], &lb));
    // Gzip is recognised by content, so a misleading name does not matter.
    let gz_x = write(dir.path(), "x-gz.idx", &gzip(&idx_bytes(&[5, 3, 2], &px)));
    let gz_y = write(dir.path(), "y.gz", &gzip(&idx_bytes(&[5], &lb)));

    let (x, y) = data::read_idx_pair(&raw_x, &raw_y, 4).unwrap();
    let (xg, yg) = data::read_idx_pair(&gz_x, &gz_y, 4).unwrap();
    assert_eq!(x.size(), vec![5, 1, 3, 2]);
    assert_eq!(x.kind(), Kind::Float);
    assert_eq!(y.kind(), Kind::Int64);
    assert!(x.equal(&xg) && y.equal(&yg));
    let expected: Vec<f32> = px.iter().map(|&v| v as f32 / 255.0).collect();
    assert_eq!(Vec::<f32>::try_from(x.flatten(0, -1)).unwrap(), expected);
    assert_eq!(Vec::<i64>::try_from(&y).unwrap(), vec![0, 1, 2, 3, 0]);
}

#[test]
fn truncated_idx_is_a_short_read_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (px, _) = tiny_images(4, 2, 2, 2);
    let full = idx_bytes(&[4, 2, 2], &px);
    let cut = write(dir.path(), "cut.idx", &full[..full.len() - 3]);
    let msg = err_text(data::read_idx_images(&cut));
    assert!(msg.contains("cut.idx"), "{msg}");
    assert!(msg.contains("short read"), "{msg}");
    assert!(msg.contains("need 16 bytes of data, found 13"), "{msg}");

    // A gzip stream cut in the middle is caught by the decompressor.
    let gz = gzip(&full);
    let cut_gz = write(dir.path(), "cut.gz", &gz[..gz.len() / 2]);
    let msg = err_text(data::read_idx_images(&cut_gz));
    assert!(
        msg.contains("cut.gz") && msg.contains("short read"),
        "{msg}"
    );

    // A header cut short.
    let head = write(dir.path(), "head.idx", &full[..6]);
    assert!(err_text(data::read_idx(&head)).contains("short read"));
}

#[test]
fn wrong_magic_is_reported_with_the_bytes_seen() {
    let dir = tempfile::tempdir().unwrap();
    let png_like = write(dir.path(), "photo.idx", b"\x89PNG\r\n\x1a\n....");
    let msg = err_text(data::read_idx(&png_like));
    assert!(msg.contains("photo.idx"), "{msg}");
    assert!(msg.contains("bad magic number 89 50 4e 47"), "{msg}");

    let bad_type = write(dir.path(), "type.idx", &[0, 0, 0x07, 1, 0, 0, 0, 1, 0]);
    assert!(err_text(data::read_idx(&bad_type)).contains("unknown IDX type code 0x07"));
}

#[test]
fn counts_that_disagree_are_wrong_counts() {
    let dir = tempfile::tempdir().unwrap();
    let (px, lb) = tiny_images(4, 2, 2, 2);
    let x = write(dir.path(), "x.idx", &idx_bytes(&[4, 2, 2], &px));
    let y3 = write(dir.path(), "y3.idx", &idx_bytes(&[3], &lb[..3]));
    let msg = err_text(data::read_idx_pair(&x, &y3, 2));
    assert!(
        msg.contains("y3.idx") && msg.contains("wrong count: 3 labels for 4 images"),
        "{msg}"
    );

    let mut long = idx_bytes(&[4], &lb);
    long.extend_from_slice(&[0, 0]);
    let trailing = write(dir.path(), "trailing.idx", &long);
    let msg = err_text(data::read_idx_labels(&trailing));
    assert!(
        msg.contains("wrong count") && msg.contains("2 trailing bytes"),
        "{msg}"
    );

    // Labels outside the class range.
    let y = write(dir.path(), "y.idx", &idx_bytes(&[4], &[0, 1, 9, 1]));
    let msg = err_text(data::read_idx_pair(&x, &y, 2));
    assert!(
        msg.contains("labels range over 0..=9, expected 0..=1"),
        "{msg}"
    );

    // An image file where labels are expected, and the other way round.
    assert!(err_text(data::read_idx_labels(&x)).contains("expected a label file"));
    assert!(err_text(data::read_idx_images(&y)).contains("expected an image file"));
}

#[test]
fn missing_file_names_the_path() {
    let msg = err_text(data::read_idx("/nonexistent/deepscope/train.idx"));
    assert!(msg.contains("/nonexistent/deepscope/train.idx"), "{msg}");
    assert!(msg.contains("No such file"), "{msg}");
}

#[test]
fn labelled_csv_loads_with_label_first_or_last() {
    let dir = tempfile::tempdir().unwrap();
    let last = write(
        dir.path(),
        "last.csv",
        b"0,255,0,255,2\n255,255,255,255,0\n\n",
    );
    let first = write(
        dir.path(),
        "first.csv",
        &gzip(b"2,0,255,0,255\n0,255,255,255,255\n"),
    );
    let (x, y) = data::read_labeled_csv(&last, &layout(LabelColumn::Last, 255.0)).unwrap();
    let (xf, yf) = data::read_labeled_csv(&first, &layout(LabelColumn::First, 255.0)).unwrap();
    assert_eq!(x.size(), vec![2, 1, 2, 2]);
    assert!(x.equal(&xf) && y.equal(&yf));
    assert_eq!(
        Vec::<f32>::try_from(x.flatten(0, -1)).unwrap(),
        vec![0., 1., 0., 1., 1., 1., 1., 1.]
    );
    assert_eq!(Vec::<i64>::try_from(&y).unwrap(), vec![2, 0]);
}

#[test]
fn bad_csv_rows_are_reported_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let l = layout(LabelColumn::Last, 16.0);
    let cases: [(&str, &[u8], &str); 6] = [
        (
            "cols.csv",
            b"1,2,3,4,0\n1,2,3,0\n",
            "line 2: wrong count: 4 columns, expected 5",
        ),
        ("nan.csv", b"1,2,x,4,0\n", "line 1: 'x' is not a number"),
        (
            "range.csv",
            b"1,2,17,4,0\n",
            "line 1: pixel value 17 outside 0..=16",
        ),
        (
            "label.csv",
            b"1,2,3,4,1.5\n",
            "line 1: label '1.5' is not a whole number",
        ),
        (
            "classes.csv",
            b"1,2,3,4,3\n",
            "labels range over 3..=3, expected 0..=2",
        ),
        ("empty.csv", b"\n\n", "no data rows"),
    ];
    for (name, bytes, expected) in cases {
        let path = write(dir.path(), name, bytes);
        let msg = err_text(data::read_labeled_csv(&path, &l));
        assert!(
            msg.contains(name) && msg.contains(expected),
            "{name}: {msg}"
        );
    }
    let bad_layout = CsvLayout { height: 0, ..l };
    let path = write(dir.path(), "ok.csv", b"1,2,3,4,0\n");
    assert!(err_text(data::read_labeled_csv(&path, &bad_layout)).contains("positive height"));
}

#[test]
fn png_and_jpeg_load_as_chw_in_unit_range() {
    let dir = tempfile::tempdir().unwrap();
    // A 3x2 RGB image whose red channel counts up: pixel (r, c) = (40 * (r*2+c), 7, 255).
    let rgb = image::RgbImage::from_fn(2, 3, |c, r| image::Rgb([(40 * (r * 2 + c)) as u8, 7, 255]));
    let png = dir.path().join("rgb.png");
    rgb.save(&png).unwrap();
    let t = data::load_image(&png, Channels::Auto).unwrap();
    assert_eq!(t.size(), vec![3, 3, 2]);
    let red = Vec::<f32>::try_from(t.get(0).flatten(0, -1)).unwrap();
    let want: Vec<f32> = (0..6).map(|i| (40 * i) as f32 / 255.0).collect();
    for (a, b) in red.iter().zip(&want) {
        assert!((a - b).abs() < 1e-6, "{red:?} vs {want:?}");
    }
    assert!((f64::try_from(t.get(2).mean(Kind::Float)).unwrap() - 1.0).abs() < 1e-6);
    assert_eq!(
        data::load_image(&png, Channels::Gray).unwrap().size(),
        vec![1, 3, 2]
    );

    let gray = image::GrayImage::from_fn(4, 4, |c, r| image::Luma([(r * 4 + c) as u8 * 16]));
    let jpg = dir.path().join("gray.jpg");
    gray.save(&jpg).unwrap();
    let g = data::load_image(&jpg, Channels::Auto).unwrap();
    assert_eq!(g.size(), vec![1, 4, 4]);
    assert_eq!(
        data::load_image(&jpg, Channels::Rgb).unwrap().size(),
        vec![3, 4, 4]
    );
    let max = f64::try_from(g.max()).unwrap();
    assert!(
        max > 0.8 && max <= 1.0,
        "JPEG keeps values near the original: {max}"
    );

    // Round trip through save_image is exact for 8-bit PNG.
    let out = dir.path().join("back.png");
    data::save_image(&t, &out).unwrap();
    assert!(data::load_image(&out, Channels::Auto).unwrap().equal(&t));
}

#[test]
fn undecodable_image_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(dir.path(), "broken.png", b"\x89PNG\r\n\x1a\nnot really");
    let msg = err_text(data::load_image(&bad, Channels::Auto));
    assert!(
        msg.contains("broken.png") && msg.contains("cannot decode image"),
        "{msg}"
    );
    let t = Tensor::zeros([2, 4, 4], (Kind::Float, tch::Device::Cpu));
    let msg = err_text(data::save_image(&t, dir.path().join("x.png")));
    assert!(msg.contains("1 (gray) or 3 (RGB) channels"), "{msg}");
}

fn cifar_record(label: u8, fill: impl Fn(usize) -> u8) -> Vec<u8> {
    let mut r = vec![label];
    r.extend((0..3072).map(fill));
    r
}

#[test]
fn cifar_batches_keep_channel_order() {
    let dir = tempfile::tempdir().unwrap();
    // Red plane 10, green 20, blue 30 in record 0; a gradient in record 1.
    let mut bytes = cifar_record(3, |i| [10, 20, 30][i / 1024]);
    bytes.extend(cifar_record(9, |i| (i % 256) as u8));
    let path = write(dir.path(), "data_batch_1.bin", &bytes);
    let (x, y) = data::read_cifar10_batch(&path).unwrap();
    assert_eq!(x.size(), vec![2, 3, 32, 32]);
    assert_eq!(Vec::<i64>::try_from(&y).unwrap(), vec![3, 9]);
    let means =
        Vec::<f32>::try_from(x.get(0).mean_dim([1i64, 2].as_slice(), false, Kind::Float)).unwrap();
    assert_eq!(means, vec![10.0 / 255.0, 20.0 / 255.0, 30.0 / 255.0]);
    assert_eq!(
        f32::try_from(x.get(1).get(0).get(0).get(5)).unwrap(),
        5.0 / 255.0
    );

    let short = write(dir.path(), "short.bin", &bytes[..bytes.len() - 1]);
    let msg = err_text(data::read_cifar10_batch(&short));
    assert!(
        msg.contains("short.bin") && msg.contains("not a whole number of 3073-byte"),
        "{msg}"
    );
    let bad_label = write(dir.path(), "label.bin", &cifar_record(12, |_| 0));
    assert!(err_text(data::read_cifar10_batch(&bad_label)).contains("labels range over 12..=12"));
    assert!(err_text(data::read_cifar10(dir.path().join("nope"))).contains("is not a folder"));
}

#[test]
fn cifar_folder_reads_five_train_batches_and_test() {
    let dir = tempfile::tempdir().unwrap();
    for i in 1..=5u8 {
        write(
            dir.path(),
            &format!("data_batch_{i}.bin"),
            &cifar_record(i, |_| i),
        );
    }
    write(dir.path(), "test_batch.bin", &cifar_record(0, |_| 0));
    let ds = data::read_cifar10(dir.path()).unwrap();
    assert_eq!((ds.train.len(), ds.test.len()), (5, 1));
    assert_eq!(ds.classes[0], "airplane");
    assert_eq!(
        Vec::<i64>::try_from(ds.train.labels()).unwrap(),
        vec![1, 2, 3, 4, 5]
    );
}

#[test]
fn image_folders_number_classes_in_sorted_order() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for (split, n) in [("train", 2u8), ("val", 1)] {
        for (class, shade) in [("zebra", 200u8), ("ant", 50)] {
            let d = root.join(split).join(class);
            std::fs::create_dir_all(&d).unwrap();
            for i in 0..n {
                // Non-square images: the shorter side is scaled to 8, then centre-cropped.
                image::RgbImage::from_pixel(16, 10, image::Rgb([shade; 3]))
                    .save(d.join(format!("{i}.png")))
                    .unwrap();
            }
        }
    }
    let ds = data::read_image_folders(root, 8, Channels::Auto).unwrap();
    assert_eq!(ds.classes, vec!["ant", "zebra"]);
    assert_eq!(ds.train.images().size(), vec![4, 3, 8, 8]);
    assert_eq!(
        Vec::<i64>::try_from(ds.train.labels()).unwrap(),
        vec![0, 0, 1, 1]
    );
    let v = f32::try_from(ds.train.images().get(3).mean(Kind::Float)).unwrap();
    assert!((v - 200.0 / 255.0).abs() < 1e-6);

    std::fs::create_dir_all(root.join("val/bee")).unwrap();
    image::RgbImage::new(4, 4)
        .save(root.join("val/bee/0.png"))
        .unwrap();
    let msg = err_text(data::read_image_folders(root, 8, Channels::Auto));
    assert!(msg.contains("differ from train's"), "{msg}");
    assert!(err_text(data::read_image_folder(
        root.join("none"),
        8,
        Channels::Auto
    ))
    .contains("none"));
}
