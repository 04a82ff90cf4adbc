// Draws icon.png (128×128): a magnifying glass over a WebAssembly-purple
// rounded square. Plain RGBA pixels, 4×4 supersampled, written as a PNG with
// node's zlib. Run: node scripts/make-icon.mjs
import { writeFileSync } from "node:fs";
import { deflateSync } from "node:zlib";

const SIZE = 128;
const PURPLE = [0x65, 0x4f, 0xf0];
const WHITE = [0xff, 0xff, 0xff];

// Coverage of the shapes at a point (0..1 per shape, in pixel units).
function inRoundedSquare(x, y) {
  const r = 24;
  const cx = Math.min(Math.max(x, r), SIZE - r);
  const cy = Math.min(Math.max(y, r), SIZE - r);
  return (x - cx) ** 2 + (y - cy) ** 2 <= r * r;
}
function inGlass(x, y) {
  const d = Math.hypot(x - 54, y - 54);
  if (d >= 24 && d <= 34) return true; // the ring
  // The handle: a thick segment from the ring towards the lower right.
  const [ax, ay, bx, by] = [78, 78, 104, 104];
  const t = Math.max(0, Math.min(1, ((x - ax) * (bx - ax) + (y - ay) * (by - ay)) / ((bx - ax) ** 2 + (by - ay) ** 2)));
  return Math.hypot(x - (ax + t * (bx - ax)), y - (ay + t * (by - ay))) <= 8;
}
function inBars(x, y) {
  // Three short bars inside the lens: lines of text (a listing).
  return [44, 54, 64].some((row, i) => Math.abs(y - row) <= 2.5 && x >= 40 && x <= 68 - i * 6);
}

const raw = Buffer.alloc(SIZE * (SIZE * 4 + 1));
const S = 4;
for (let y = 0; y < SIZE; y++) {
  raw[y * (SIZE * 4 + 1)] = 0; // filter: none
  for (let x = 0; x < SIZE; x++) {
    let bg = 0;
    let fg = 0;
    for (let sy = 0; sy < S; sy++) {
      for (let sx = 0; sx < S; sx++) {
        const px = x + (sx + 0.5) / S;
        const py = y + (sy + 0.5) / S;
        if (inRoundedSquare(px, py)) {
          bg++;
          if (inGlass(px, py) || inBars(px, py)) fg++;
        }
      }
    }
    const alpha = bg / (S * S);
    const mix = bg === 0 ? 0 : fg / bg;
    const o = y * (SIZE * 4 + 1) + 1 + x * 4;
    for (let c = 0; c < 3; c++) raw[o + c] = Math.round(PURPLE[c] * (1 - mix) + WHITE[c] * mix);
    raw[o + 3] = Math.round(alpha * 255);
  }
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}
const header = Buffer.alloc(13);
header.writeUInt32BE(SIZE, 0);
header.writeUInt32BE(SIZE, 4);
header[8] = 8; // bit depth
header[9] = 6; // RGBA
const png = Buffer.concat([
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  chunk("IHDR", header),
  chunk("IDAT", deflateSync(raw, { level: 9 })),
  chunk("IEND", Buffer.alloc(0)),
]);
writeFileSync(new URL("../icon.png", import.meta.url), png);
console.log(`icon.png: ${png.length} bytes`);
