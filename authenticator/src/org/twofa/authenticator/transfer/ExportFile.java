package org.twofa.authenticator.transfer;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.util.Arrays;
import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import org.twofa.authenticator.otp.Message;
import org.twofa.authenticator.vault.Vault;
import org.twofa.authenticator.vault.VaultCodec;
import org.twofa.authenticator.vault.VaultFormatException;

/**
 * The password-protected export file ({@code .2fa}), documented in
 * {@code authenticator/docs/export.md}: magic {@code 2FAX}, a 16-bit version,
 * the scrypt parameters and salt, the AES-GCM nonce, then the serialised
 * vault ({@link VaultCodec}) encrypted with AES-256-GCM under the key scrypt
 * derives from the password. Everything before the ciphertext is
 * authenticated as associated data.
 */
public final class ExportFile {
    public static final int VERSION = 1;
    static final byte[] MAGIC = {'2', 'F', 'A', 'X'};
    static final int KDF_SCRYPT = 1;
    /** scrypt N = 2^15, r = 8, p = 1: 32 MiB and well under a second on a phone, as Aegis does. */
    public static final int DEFAULT_LOG2_N = 15;
    public static final int DEFAULT_R = 8;
    public static final int DEFAULT_P = 1;
    private static final int SALT_BYTES = 32;
    private static final int NONCE_BYTES = 12;
    private static final int TAG_BITS = 128;
    /** Upper bounds a file may ask for, so a crafted file cannot make the phone run out of memory. */
    private static final int MAX_LOG2_N = 20;
    private static final int MAX_R = 16;
    private static final int MAX_P = 4;

    private ExportFile() {}

    public static byte[] encrypt(Vault vault, char[] password) throws GeneralSecurityException {
        return encrypt(vault, password, DEFAULT_LOG2_N, DEFAULT_R, DEFAULT_P, new SecureRandom());
    }

    /** With chosen scrypt cost: the tests use a cheap one. */
    public static byte[] encrypt(Vault vault, char[] password, int log2n, int r, int p, SecureRandom random)
            throws GeneralSecurityException {
        if (password.length == 0) {
            throw new IllegalArgumentException("an export needs a password");
        }
        byte[] salt = new byte[SALT_BYTES];
        byte[] nonce = new byte[NONCE_BYTES];
        random.nextBytes(salt);
        random.nextBytes(nonce);
        ByteBuffer header = ByteBuffer.allocate(4 + 2 + 1 + 1 + 1 + 1 + 1 + SALT_BYTES + 1 + NONCE_BYTES);
        header.put(MAGIC).putShort((short) VERSION).put((byte) KDF_SCRYPT).put((byte) log2n).put((byte) r)
                .put((byte) p).put((byte) SALT_BYTES).put(salt).put((byte) NONCE_BYTES).put(nonce);
        byte[] key = key(password, salt, log2n, r, p);
        try {
            Cipher cipher = Cipher.getInstance("AES/GCM/NoPadding");
            cipher.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(key, "AES"), new GCMParameterSpec(TAG_BITS, nonce));
            cipher.updateAAD(header.array());
            byte[] sealed = cipher.doFinal(VaultCodec.encode(vault));
            byte[] out = Arrays.copyOf(header.array(), header.capacity() + sealed.length);
            System.arraycopy(sealed, 0, out, header.capacity(), sealed.length);
            return out;
        } finally {
            Arrays.fill(key, (byte) 0);
        }
    }

    /** True when the bytes start like an export file (to tell it from an Aegis file or a text list). */
    public static boolean looksLikeExport(byte[] data) {
        return data.length >= 4 && data[0] == MAGIC[0] && data[1] == MAGIC[1] && data[2] == MAGIC[2]
                && data[3] == MAGIC[3];
    }

    public static Vault decrypt(byte[] data, char[] password) throws ImportException {
        if (!looksLikeExport(data)) {
            throw new ImportException(Message.EXPORT_NOT_TWOFA);
        }
        ByteBuffer in = ByteBuffer.wrap(data);
        try {
            in.position(4);
            int version = in.getShort() & 0xffff;
            if (version > VERSION) {
                throw new ImportException(Message.EXPORT_NEWER, version);
            }
            if (version != VERSION) {
                throw new ImportException(Message.EXPORT_VERSION_UNKNOWN, version);
            }
            int kdf = in.get() & 0xff;
            if (kdf != KDF_SCRYPT) {
                throw new ImportException(Message.EXPORT_UNKNOWN_KDF, kdf);
            }
            int log2n = in.get() & 0xff;
            int r = in.get() & 0xff;
            int p = in.get() & 0xff;
            if (log2n < 1 || log2n > MAX_LOG2_N || r < 1 || r > MAX_R || p < 1 || p > MAX_P) {
                throw new ImportException(Message.EXPORT_SCRYPT_RANGE, log2n, r, p);
            }
            byte[] salt = new byte[in.get() & 0xff];
            in.get(salt);
            byte[] nonce = new byte[in.get() & 0xff];
            if (nonce.length < 12) {
                throw new ImportException(Message.EXPORT_SHORT_NONCE);
            }
            in.get(nonce);
            int headerLength = in.position();
            if (data.length - headerLength < TAG_BITS / 8) {
                throw new ImportException(Message.EXPORT_TRUNCATED);
            }
            byte[] key = key(password, salt, log2n, r, p);
            byte[] plain;
            try {
                Cipher cipher = Cipher.getInstance("AES/GCM/NoPadding");
                cipher.init(Cipher.DECRYPT_MODE, new SecretKeySpec(key, "AES"), new GCMParameterSpec(TAG_BITS, nonce));
                cipher.updateAAD(data, 0, headerLength);
                plain = cipher.doFinal(data, headerLength, data.length - headerLength);
            } catch (AEADBadTagException e) {
                throw new WrongPasswordException();
            } finally {
                Arrays.fill(key, (byte) 0);
            }
            return VaultCodec.decode(plain);
        } catch (java.nio.BufferUnderflowException e) {
            throw new ImportException(Message.EXPORT_TRUNCATED);
        } catch (VaultFormatException e) {
            throw new ImportException(e, Message.EXPORT_BAD_VAULT, e);
        } catch (GeneralSecurityException e) {
            throw new ImportException(e, Message.EXPORT_CANNOT_DECRYPT, e.getMessage());
        }
    }

    private static byte[] key(char[] password, byte[] salt, int log2n, int r, int p) {
        byte[] pw = utf8(password);
        try {
            return Scrypt.derive(pw, salt, 1 << log2n, r, p, 32);
        } finally {
            Arrays.fill(pw, (byte) 0);
        }
    }

    /** UTF-8 bytes of a password, exactly (for Aegis too). */
    static byte[] utf8(char[] password) {
        java.nio.ByteBuffer b = StandardCharsets.UTF_8.encode(java.nio.CharBuffer.wrap(password));
        byte[] out = new byte[b.remaining()];
        b.get(out);
        return out;
    }
}
