/**
 * Base64 and SHA-256 helpers for the generated kernel module (no JSR standard library here).
 *
 * @module
 */

/**
 * Bytes → standard base64.
 *
 * @example
 * ```ts
 * encodeBase64(new TextEncoder().encode("lopt")); // "bG9wdA=="
 * ```
 */
export function encodeBase64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

/**
 * Standard base64 → bytes.
 *
 * @example
 * ```ts
 * decodeBase64("bG9wdA=="); // Uint8Array [108, 111, 112, 116]
 * ```
 */
export function decodeBase64(b64: string): Uint8Array {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/**
 * Lower-case hex SHA-256 of some bytes.
 *
 * @example
 * ```ts
 * await sha256Hex(new Uint8Array()); // "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
 * ```
 */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}
