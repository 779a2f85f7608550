//! Access to the app's linear memory (memory 0), only ever through this trait: app pointers are offsets.

use alloc::vec::Vec;

use crate::wasi::{Errno, EFAULT, IOVEC_SIZE};

/// The app's memory, as the intrinsics (or a test double) expose it.
pub trait AppMem {
    /// Current size of the app's memory in bytes.
    fn size(&self) -> u64;
    /// Copies `dst.len()` bytes from app offset `src`; the caller has checked the range.
    fn read(&self, src: u32, dst: &mut [u8]);
    /// Copies `src` to app offset `dst`; the caller has checked the range.
    fn write(&mut self, dst: u32, src: &[u8]);
    /// Writes `len` zero bytes from app offset `dst` on; the caller has checked the range.
    fn zero(&mut self, dst: u32, len: u32);
    /// Copies `len` image bytes from `image_off` straight to app offset `dst`; ranges checked by the caller.
    fn image_to_app(&mut self, dst: u32, image_off: u32, len: u32);

    /// `Ok` when `[ptr, ptr + len)` lies inside the app's memory, else EFAULT.
    fn check(&self, ptr: u32, len: u32) -> Result<(), Errno> {
        if u64::from(ptr) + u64::from(len) <= self.size() {
            Ok(())
        } else {
            Err(EFAULT)
        }
    }

    /// Reads `len` bytes at `ptr` into a new vector.
    fn get(&self, ptr: u32, len: u32) -> Result<Vec<u8>, Errno> {
        self.check(ptr, len)?;
        let mut v = Vec::new();
        crate::fallible::resize(&mut v, len as usize)?;
        self.read(ptr, &mut v);
        Ok(v)
    }

    /// Writes `bytes` at `ptr`.
    fn put(&mut self, ptr: u32, bytes: &[u8]) -> Result<(), Errno> {
        let len = u32::try_from(bytes.len()).map_err(|_| EFAULT)?;
        self.check(ptr, len)?;
        self.write(ptr, bytes);
        Ok(())
    }

    /// Reads a little-endian u32 at `ptr`.
    fn get_u32(&self, ptr: u32) -> Result<u32, Errno> {
        self.check(ptr, 4)?;
        let mut b = [0u8; 4];
        self.read(ptr, &mut b);
        Ok(u32::from_le_bytes(b))
    }

    /// Writes a little-endian u32 at `ptr`.
    fn put_u32(&mut self, ptr: u32, v: u32) -> Result<(), Errno> {
        self.put(ptr, &v.to_le_bytes())
    }

    /// Writes a little-endian u64 at `ptr`.
    fn put_u64(&mut self, ptr: u32, v: u64) -> Result<(), Errno> {
        self.put(ptr, &v.to_le_bytes())
    }

    /// The first non-empty buffer `(ptr, len)` of an iovec array (what wasmtime reads and writes),
    /// `(0, 0)` when all are empty; the buffer's range is checked.
    fn first_iovec(&self, iovs: u32, count: u32) -> Result<(u32, u32), Errno> {
        let total = count.checked_mul(IOVEC_SIZE).ok_or(EFAULT)?;
        self.check(iovs, total)?;
        for i in 0..count {
            let mut b = [0u8; 8];
            self.read(iovs + i * IOVEC_SIZE, &mut b);
            let buf = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            let len = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
            if len != 0 {
                self.check(buf, len)?;
                return Ok((buf, len));
            }
        }
        Ok((0, 0))
    }
}

/// A test double: the app's memory as a vector, the image as a slice.
#[cfg(test)]
pub struct TestMem {
    /// The app's memory.
    pub app: Vec<u8>,
    /// The image bytes.
    pub image: Vec<u8>,
}

#[cfg(test)]
impl AppMem for TestMem {
    fn size(&self) -> u64 {
        self.app.len() as u64
    }
    fn read(&self, src: u32, dst: &mut [u8]) {
        let s = src as usize;
        dst.copy_from_slice(&self.app[s..s + dst.len()]);
    }
    fn write(&mut self, dst: u32, src: &[u8]) {
        let d = dst as usize;
        self.app[d..d + src.len()].copy_from_slice(src);
    }
    fn zero(&mut self, dst: u32, len: u32) {
        self.app[dst as usize..(dst + len) as usize].fill(0);
    }
    fn image_to_app(&mut self, dst: u32, image_off: u32, len: u32) {
        let (d, o, l) = (dst as usize, image_off as usize, len as usize);
        self.app[d..d + l].copy_from_slice(&self.image[o..o + l]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mem() -> TestMem {
        TestMem {
            app: alloc::vec![0; 256],
            image: Vec::new(),
        }
    }

    #[test]
    fn out_of_bounds_range_is_efault() {
        let m = mem();
        assert_eq!(m.check(250, 6), Ok(()));
        assert_eq!(m.check(250, 7), Err(EFAULT));
        assert_eq!(m.check(u32::MAX, 2), Err(EFAULT));
        assert_eq!(m.get(255, 2), Err(EFAULT));
    }

    #[test]
    fn first_iovec_skips_empty_buffers_and_checks_the_one_it_returns() {
        let mut m = mem();
        m.put(0, &[0, 0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0, 60, 0, 0, 0])
            .unwrap();
        assert_eq!(m.first_iovec(0, 2), Ok((100, 60)));
        assert_eq!(m.first_iovec(0, 1), Ok((0, 0)));
        m.put(8, &[200, 0, 0, 0]).unwrap();
        assert_eq!(m.first_iovec(0, 2), Err(EFAULT));
        assert_eq!(m.first_iovec(250, 1), Err(EFAULT));
    }
}
