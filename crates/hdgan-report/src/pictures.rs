//! Learned bases as pictures: each column of an `n x d` basis drawn as an image of the
//! data's shape (28 x 28 grey for MNIST, 32 x 32 grey or colour for CIFAR-10).

use crate::{Error, Result};
use plotters::prelude::*;
use std::path::Path;

/// Pixels per image pixel in the grids.
const ZOOM: u32 = 3;
/// Gap between tiles, in grid pixels.
const GAP: u32 = 4;

/// The image shape of a basis column: height, width, channels (1 grey; 3 colour planes
/// R, G, B one after the other, as the data stores them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
    /// Channels: 1 or 3.
    pub c: usize,
}

/// The RGB colour of pixel `(y, x)` of `v`, scaled so that `-scale` is black, 0 mid-grey
/// and `+scale` white (per channel for colour images).
fn pixel(v: &[f64], s: Shape, y: usize, x: usize, scale: f64) -> RGBColor {
    let level = |ch: usize| {
        let val = v[ch * s.h * s.w + y * s.w + x] / scale;
        (127.5 + 127.5 * val.clamp(-1.0, 1.0)).round() as u8
    };
    if s.c == 3 {
        RGBColor(level(0), level(1), level(2))
    } else {
        let g = level(0);
        RGBColor(g, g, g)
    }
}

/// Draws `rows` of tiles into a PNG at `path`: each tile is one basis column (length
/// `h w c`), scaled on its own by its largest absolute entry (eigen-images have arbitrary
/// sign and scale). Rows may differ in length; the background is white.
pub fn tile_grid(path: &Path, rows: &[Vec<&[f64]>], s: Shape) -> Result<()> {
    let refuse = |message: String| Error::Plot {
        path: path.to_path_buf(),
        message,
    };
    if !(s.c == 1 || s.c == 3) {
        return Err(refuse(format!("1 or 3 channels, got {}", s.c)));
    }
    let n = s.h * s.w * s.c;
    if rows.iter().flatten().any(|t| t.len() != n) {
        return Err(refuse(format!("every tile must have h w c = {n} entries")));
    }
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0).max(1) as u32;
    let (tw, th) = (s.w as u32 * ZOOM, s.h as u32 * ZOOM);
    let size = (
        cols * (tw + GAP) + GAP,
        rows.len().max(1) as u32 * (th + GAP) + GAP,
    );
    let root = BitMapBackend::new(path, size).into_drawing_area();
    let ctx = |e: DrawingAreaErrorKind<_>| refuse(e.to_string());
    root.fill(&WHITE).map_err(ctx)?;
    for (r, row) in rows.iter().enumerate() {
        for (c, tile) in row.iter().enumerate() {
            let scale = tile
                .iter()
                .fold(0.0f64, |m, v| m.max(v.abs()))
                .max(f64::MIN_POSITIVE);
            let (x0, y0) = (GAP + c as u32 * (tw + GAP), GAP + r as u32 * (th + GAP));
            for y in 0..s.h {
                for x in 0..s.w {
                    let colour = pixel(tile, s, y, x, scale);
                    for dy in 0..ZOOM {
                        for dx in 0..ZOOM {
                            let px = (
                                (x0 + x as u32 * ZOOM + dx) as i32,
                                (y0 + y as u32 * ZOOM + dy) as i32,
                            );
                            root.draw_pixel(px, &colour).map_err(ctx)?;
                        }
                    }
                }
            }
        }
    }
    root.present().map_err(ctx)?;
    Ok(())
}

/// The columns of a column-major `n x d` basis, wrapped into rows of at most `per_row`.
pub fn columns_wrapped(basis: &[f64], n: usize, per_row: usize) -> Vec<Vec<&[f64]>> {
    let cols: Vec<&[f64]> = basis.chunks_exact(n).collect();
    cols.chunks(per_row.max(1))
        .map(<[&[f64]]>::to_vec)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grid_has_the_expected_size_and_pixels() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.png");
        let s = Shape { h: 2, w: 3, c: 1 };
        // One tile: a ramp from -1 to +1 (black to white).
        let tile = [-1.0, -0.5, 0.0, 0.0, 0.5, 1.0];
        tile_grid(&path, &[vec![&tile[..], &tile[..]], vec![&tile[..]]], s).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        // Width and height from the IHDR chunk: 2 tiles of 3 x 3 px plus gaps.
        let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
        let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
        assert_eq!((w, h), (2 * (9 + GAP) + GAP, 2 * (6 + GAP) + GAP));
        assert_eq!(pixel(&tile, s, 0, 0, 1.0), RGBColor(0, 0, 0));
        assert_eq!(pixel(&tile, s, 1, 2, 1.0), RGBColor(255, 255, 255));
        assert!(tile_grid(&path, &[vec![&tile[..5]]], s).is_err());
        assert_eq!(columns_wrapped(&[0.0; 12], 2, 4).len(), 2);
    }
}
