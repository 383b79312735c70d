package org.twofa.authenticator.transfer;

import java.security.GeneralSecurityException;
import java.util.Arrays;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * scrypt (RFC 7914), used to turn an export password into an AES key, and to
 * open password-protected Aegis vaults. Android has no scrypt of its own, and
 * its PBKDF2-HMAC-SHA256 arrived only in API 26, so both are written here,
 * checked against the RFC's test vectors.
 */
public final class Scrypt {
    private Scrypt() {}

    /**
     * @param n CPU/memory cost, a power of two above 1 (memory used: 128 * r * n bytes, at most 256 MiB)
     * @param r block size
     * @param p parallelisation
     */
    public static byte[] derive(byte[] password, byte[] salt, int n, int r, int p, int length) {
        if (n < 2 || (n & (n - 1)) != 0) {
            throw new IllegalArgumentException("scrypt N must be a power of two above 1, not " + n);
        }
        if (r < 1 || p < 1 || (long) r * p >= (1 << 30) || (long) n * r > (1 << 21)) {
            throw new IllegalArgumentException("scrypt parameters out of range (N=" + n + ", r=" + r + ", p=" + p + ")");
        }
        byte[] b = pbkdf2Sha256(password, salt, 1, p * 128 * r);
        int[] x = new int[32 * r];
        int[] v = new int[32 * r * n];
        int[] scratch = new int[32 * r];
        for (int i = 0; i < p; i++) {
            roMix(b, i * 128 * r, r, n, x, v, scratch);
        }
        byte[] dk = pbkdf2Sha256(password, b, 1, length);
        Arrays.fill(b, (byte) 0);
        Arrays.fill(v, 0);
        return dk;
    }

    /** RFC 8018 PBKDF2 with HMAC-SHA256. */
    static byte[] pbkdf2Sha256(byte[] password, byte[] salt, int iterations, int length) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            // An empty password is a valid scrypt input; SecretKeySpec refuses empty keys.
            mac.init(password.length == 0 ? new EmptyKey() : new SecretKeySpec(password, "HmacSHA256"));
            byte[] out = new byte[length];
            byte[] block = new byte[4];
            for (int i = 1, done = 0; done < length; i++) {
                block[0] = (byte) (i >>> 24);
                block[1] = (byte) (i >>> 16);
                block[2] = (byte) (i >>> 8);
                block[3] = (byte) i;
                mac.update(salt);
                byte[] u = mac.doFinal(block);
                byte[] t = u.clone();
                for (int k = 1; k < iterations; k++) {
                    u = mac.doFinal(u);
                    for (int j = 0; j < t.length; j++) {
                        t[j] ^= u[j];
                    }
                }
                int take = Math.min(t.length, length - done);
                System.arraycopy(t, 0, out, done, take);
                done += take;
            }
            return out;
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is not available", e);
        }
    }

    /** An HMAC key of zero bytes (HMAC pads it with zeros, as RFC 2104 says). */
    private static final class EmptyKey implements javax.crypto.SecretKey {
        private static final long serialVersionUID = 1L;

        @Override
        public String getAlgorithm() {
            return "HmacSHA256";
        }

        @Override
        public String getFormat() {
            return "RAW";
        }

        @Override
        public byte[] getEncoded() {
            return new byte[0];
        }
    }

    private static void roMix(byte[] b, int offset, int r, int n, int[] x, int[] v, int[] scratch) {
        int words = 32 * r;
        for (int i = 0; i < words; i++) {
            int at = offset + i * 4;
            x[i] = (b[at] & 0xff) | (b[at + 1] & 0xff) << 8 | (b[at + 2] & 0xff) << 16 | (b[at + 3] & 0xff) << 24;
        }
        for (int i = 0; i < n; i++) {
            System.arraycopy(x, 0, v, i * words, words);
            blockMix(x, r, scratch);
        }
        for (int i = 0; i < n; i++) {
            int j = x[(2 * r - 1) * 16] & (n - 1);
            for (int k = 0; k < words; k++) {
                x[k] ^= v[j * words + k];
            }
            blockMix(x, r, scratch);
        }
        for (int i = 0; i < words; i++) {
            int at = offset + i * 4;
            b[at] = (byte) x[i];
            b[at + 1] = (byte) (x[i] >>> 8);
            b[at + 2] = (byte) (x[i] >>> 16);
            b[at + 3] = (byte) (x[i] >>> 24);
        }
    }

    /** BlockMix with Salsa20/8: Y_i = salsa(Y_{i-1} ^ B_i); output the even Y, then the odd Y. */
    private static void blockMix(int[] b, int r, int[] y) {
        int[] t = new int[16];
        System.arraycopy(b, (2 * r - 1) * 16, t, 0, 16);
        for (int i = 0; i < 2 * r; i++) {
            for (int k = 0; k < 16; k++) {
                t[k] ^= b[i * 16 + k];
            }
            salsa8(t);
            int dest = (i % 2 == 0 ? i / 2 : r + i / 2) * 16;
            System.arraycopy(t, 0, y, dest, 16);
        }
        System.arraycopy(y, 0, b, 0, 32 * r);
    }

    private static void salsa8(int[] b) {
        int x0 = b[0], x1 = b[1], x2 = b[2], x3 = b[3], x4 = b[4], x5 = b[5], x6 = b[6], x7 = b[7];
        int x8 = b[8], x9 = b[9], x10 = b[10], x11 = b[11], x12 = b[12], x13 = b[13], x14 = b[14], x15 = b[15];
        for (int i = 0; i < 8; i += 2) {
            x4 ^= Integer.rotateLeft(x0 + x12, 7);
            x8 ^= Integer.rotateLeft(x4 + x0, 9);
            x12 ^= Integer.rotateLeft(x8 + x4, 13);
            x0 ^= Integer.rotateLeft(x12 + x8, 18);
            x9 ^= Integer.rotateLeft(x5 + x1, 7);
            x13 ^= Integer.rotateLeft(x9 + x5, 9);
            x1 ^= Integer.rotateLeft(x13 + x9, 13);
            x5 ^= Integer.rotateLeft(x1 + x13, 18);
            x14 ^= Integer.rotateLeft(x10 + x6, 7);
            x2 ^= Integer.rotateLeft(x14 + x10, 9);
            x6 ^= Integer.rotateLeft(x2 + x14, 13);
            x10 ^= Integer.rotateLeft(x6 + x2, 18);
            x3 ^= Integer.rotateLeft(x15 + x11, 7);
            x7 ^= Integer.rotateLeft(x3 + x15, 9);
            x11 ^= Integer.rotateLeft(x7 + x3, 13);
            x15 ^= Integer.rotateLeft(x11 + x7, 18);
            x1 ^= Integer.rotateLeft(x0 + x3, 7);
            x2 ^= Integer.rotateLeft(x1 + x0, 9);
            x3 ^= Integer.rotateLeft(x2 + x1, 13);
            x0 ^= Integer.rotateLeft(x3 + x2, 18);
            x6 ^= Integer.rotateLeft(x5 + x4, 7);
            x7 ^= Integer.rotateLeft(x6 + x5, 9);
            x4 ^= Integer.rotateLeft(x7 + x6, 13);
            x5 ^= Integer.rotateLeft(x4 + x7, 18);
            x11 ^= Integer.rotateLeft(x10 + x9, 7);
            x8 ^= Integer.rotateLeft(x11 + x10, 9);
            x9 ^= Integer.rotateLeft(x8 + x11, 13);
            x10 ^= Integer.rotateLeft(x9 + x8, 18);
            x12 ^= Integer.rotateLeft(x15 + x14, 7);
            x13 ^= Integer.rotateLeft(x12 + x15, 9);
            x14 ^= Integer.rotateLeft(x13 + x12, 13);
            x15 ^= Integer.rotateLeft(x14 + x13, 18);
        }
        b[0] += x0; b[1] += x1; b[2] += x2; b[3] += x3; b[4] += x4; b[5] += x5; b[6] += x6; b[7] += x7;
        b[8] += x8; b[9] += x9; b[10] += x10; b[11] += x11; b[12] += x12; b[13] += x13; b[14] += x14; b[15] += x15;
    }
}
