// Incremental SHA-256 (FIPS 180-4) in plain JavaScript.
//
// WebCrypto's digest() takes the whole input at once; an upload of a large file would
// have to sit in memory. This one is fed slice by slice while the file is read, and
// needs no WebAssembly (so the page's CSP stays strict).

// Int32Array keeps every value a 32-bit integer for the JIT (no doubles above 2^31).
const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

const INIT = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

export class SHA256 {
  constructor() {
    this.h = new Int32Array(INIT);
    this.w = new Int32Array(64);
    this.buf = new Uint8Array(64);
    this.bufLen = 0;
    this.length = 0; // bytes hashed so far (exact up to 2^53)
    this.finished = false;
  }

  // update adds bytes (a Uint8Array, another typed array or an ArrayBuffer) and returns this.
  update(data) {
    if (this.finished) throw new Error('SHA256: update after digest');
    if (data instanceof ArrayBuffer) data = new Uint8Array(data);
    else if (!(data instanceof Uint8Array)) data = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const len = data.length;
    let pos = 0;
    this.length += len;
    if (this.bufLen > 0) {
      const n = Math.min(64 - this.bufLen, len);
      this.buf.set(data.subarray(0, n), this.bufLen);
      this.bufLen += n;
      pos = n;
      if (this.bufLen < 64) return this;
      this.block(this.buf, 0);
      this.bufLen = 0;
    }
    while (len - pos >= 64) {
      this.block(data, pos);
      pos += 64;
    }
    if (pos < len) {
      this.buf.set(data.subarray(pos), 0);
      this.bufLen = len - pos;
    }
    return this;
  }

  block(d, off) {
    const w = this.w;
    for (let i = 0; i < 16; i++) {
      const j = off + i * 4;
      w[i] = (d[j] << 24) | (d[j + 1] << 16) | (d[j + 2] << 8) | d[j + 3];
    }
    for (let i = 16; i < 64; i++) {
      const x = w[i - 15], y = w[i - 2];
      const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
    }
    const H = this.h;
    let a = H[0], b = H[1], c = H[2], e = H[4], f = H[5], g = H[6];
    let dd = H[3], hh = H[7];
    for (let i = 0; i < 64; i++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const ch = (e & f) ^ (~e & g);
      const t1 = (hh + S1 + ch + K[i] + w[i]) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (S0 + maj) | 0;
      hh = g; g = f; f = e; e = (dd + t1) | 0;
      dd = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    H[0] = (H[0] + a) | 0; H[1] = (H[1] + b) | 0; H[2] = (H[2] + c) | 0; H[3] = (H[3] + dd) | 0;
    H[4] = (H[4] + e) | 0; H[5] = (H[5] + f) | 0; H[6] = (H[6] + g) | 0; H[7] = (H[7] + hh) | 0;
  }

  // digest finishes the hash and returns its 32 bytes; the object cannot be updated after.
  digest() {
    if (!this.finished) {
      const bits = this.length * 8;
      const hi = Math.floor(bits / 0x100000000), lo = bits >>> 0;
      const pad = new Uint8Array(this.bufLen < 56 ? 64 - this.bufLen : 128 - this.bufLen);
      pad[0] = 0x80;
      const n = pad.length;
      pad[n - 8] = hi >>> 24; pad[n - 7] = hi >>> 16; pad[n - 6] = hi >>> 8; pad[n - 5] = hi;
      pad[n - 4] = lo >>> 24; pad[n - 3] = lo >>> 16; pad[n - 2] = lo >>> 8; pad[n - 1] = lo;
      const length = this.length;
      this.update(pad);
      this.length = length;
      this.finished = true;
    }
    const out = new Uint8Array(32);
    for (let i = 0; i < 8; i++) {
      const v = this.h[i];
      out[i * 4] = v >>> 24; out[i * 4 + 1] = v >>> 16; out[i * 4 + 2] = v >>> 8; out[i * 4 + 3] = v;
    }
    return out;
  }

  // hex finishes the hash and returns it as lowercase hex.
  hex() {
    let s = '';
    for (const b of this.digest()) s += (b < 16 ? '0' : '') + b.toString(16);
    return s;
  }
}

// sha256Hex hashes one buffer at once.
export function sha256Hex(data) {
  return new SHA256().update(data).hex();
}

// hashBlob hashes a Blob (a File) by reading slices of chunkSize bytes, calling
// onProgress(bytesDone) after each; signal (an AbortSignal) stops it with its reason.
export async function hashBlob(blob, { chunkSize = 4 << 20, onProgress, signal } = {}) {
  const h = new SHA256();
  for (let off = 0; off < blob.size; off += chunkSize) {
    if (signal && signal.aborted) throw signal.reason;
    const buf = await blob.slice(off, Math.min(off + chunkSize, blob.size)).arrayBuffer();
    h.update(buf);
    if (onProgress) onProgress(Math.min(off + chunkSize, blob.size));
  }
  if (signal && signal.aborted) throw signal.reason;
  return h.hex();
}
