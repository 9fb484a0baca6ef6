//! Writing arrays in numpy's `.npy` format (version 1.0), so that the Python baselines read
//! dpstudy's prepared data and initial weights with `numpy.load` and nothing else: the same
//! rows and the same starting point, bit for bit.
//!
//! The format: the magic `\x93NUMPY`, version 1.0, a little-endian u16 header length, then a
//! Python dict literal (`descr`, `fortran_order`, `shape`) padded with spaces and ended by a
//! newline so that the data starts at a multiple of 64 bytes; then the raw elements.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

/// An element type numpy knows by a `descr` string.
pub trait NpyElement: Copy {
    /// numpy's type string: `<f8`, `<f4`, `|u1`.
    const DESCR: &'static str;
    fn write_le(self, out: &mut Vec<u8>);
}

impl NpyElement for f64 {
    const DESCR: &'static str = "<f8";
    fn write_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl NpyElement for f32 {
    const DESCR: &'static str = "<f4";
    fn write_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl NpyElement for u8 {
    const DESCR: &'static str = "|u1";
    fn write_le(self, out: &mut Vec<u8>) {
        out.push(self);
    }
}

/// The bytes of a C-order array of `shape` holding `data`.
pub fn encode<T: NpyElement>(data: &[T], shape: &[usize]) -> anyhow::Result<Vec<u8>> {
    let count: usize = shape.iter().product();
    anyhow::ensure!(count == data.len(), "npy: shape {shape:?} holds {count} elements, the data has {}", data.len());
    // A 1-d shape is written `(n,)`, as Python spells a one-element tuple.
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_text = if shape.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut header = format!("{{'descr': '{}', 'fortran_order': False, 'shape': {shape_text}, }}", T::DESCR);
    // magic (6) + version (2) + length (2) + header + '\n', padded to 64 bytes.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    let header_len = u16::try_from(header.len()).context("npy: header longer than 65535 bytes")?;
    let mut out = Vec::with_capacity(10 + header.len() + std::mem::size_of_val(data));
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&header_len.to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for &x in data {
        x.write_le(&mut out);
    }
    Ok(out)
}

/// Writes `data` with `shape` to `path` as `.npy`.
pub fn write<T: NpyElement>(path: &Path, data: &[T], shape: &[usize]) -> anyhow::Result<()> {
    let bytes = encode(data, shape).with_context(|| format!("cannot encode {}", path.display()))?;
    let mut file = std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(&bytes).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_is_a_padded_dict_and_the_data_little_endian() {
        let bytes = encode(&[1.0f64, -2.5, 0.0, 3.0, 4.0, 5.0], &[2, 3]).unwrap();
        assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + header_len) % 64, 0, "the data starts on a 64-byte boundary");
        let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
        assert!(header.starts_with("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }"), "{header}");
        assert!(header.ends_with('\n'));
        let data = &bytes[10 + header_len..];
        assert_eq!(data.len(), 48);
        assert_eq!(f64::from_le_bytes(data[8..16].try_into().unwrap()), -2.5);
    }

    #[test]
    fn one_dimensional_shapes_are_python_tuples() {
        let bytes = encode(&[7u8, 8, 9], &[3]).unwrap();
        let header = String::from_utf8_lossy(&bytes[10..]).to_string();
        assert!(header.contains("'descr': '|u1'") && header.contains("'shape': (3,)"), "{header}");
        assert!(bytes.ends_with(&[7, 8, 9]));
    }

    #[test]
    fn a_shape_that_does_not_hold_the_data_is_refused() {
        let e = encode(&[1.0f32, 2.0], &[3]).unwrap_err().to_string();
        assert!(e.contains("[3]") && e.contains("2"), "{e}");
    }
}
