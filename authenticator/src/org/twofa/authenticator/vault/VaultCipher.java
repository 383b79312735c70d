package org.twofa.authenticator.vault;

import java.nio.ByteBuffer;
import java.security.GeneralSecurityException;
import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.SecretKey;
import javax.crypto.spec.GCMParameterSpec;
import org.twofa.authenticator.otp.Message;

/**
 * AES-GCM encryption of the serialised vault, with any AES key: on the phone
 * a non-exportable key of the Android Keystore, in tests a software key.
 *
 * <p>Layout: magic {@code 2FAE}, a 16-bit version, the IV length (one byte),
 * the IV, then ciphertext with its 128-bit tag. The header is authenticated
 * as associated data. The IV is chosen by the cipher, as the Android
 * Keystore requires (it refuses caller-chosen IVs for encryption).
 */
public final class VaultCipher {
    public static final int VERSION = 1;
    static final byte[] MAGIC = {'2', 'F', 'A', 'E'};
    private static final String TRANSFORMATION = "AES/GCM/NoPadding";
    private static final int TAG_BITS = 128;

    private VaultCipher() {}

    public static byte[] seal(SecretKey key, byte[] plaintext) throws GeneralSecurityException {
        Cipher cipher = Cipher.getInstance(TRANSFORMATION);
        cipher.init(Cipher.ENCRYPT_MODE, key);
        byte[] iv = cipher.getIV();
        byte[] header = header();
        cipher.updateAAD(header);
        byte[] sealed = cipher.doFinal(plaintext);
        ByteBuffer out = ByteBuffer.allocate(header.length + 1 + iv.length + sealed.length);
        out.put(header).put((byte) iv.length).put(iv).put(sealed);
        return out.array();
    }

    /**
     * Decrypts what {@link #seal} wrote; a wrong key or any changed byte is a
     * {@link VaultFormatException}, never garbage.
     */
    public static byte[] open(SecretKey key, byte[] data) throws VaultFormatException, GeneralSecurityException {
        byte[] header = header();
        if (data.length < header.length + 1) {
            throw new VaultFormatException(Message.SEALED_TRUNCATED);
        }
        for (int i = 0; i < MAGIC.length; i++) {
            if (data[i] != MAGIC[i]) {
                throw new VaultFormatException(Message.SEALED_WRONG_MAGIC);
            }
        }
        int version = ((data[4] & 0xff) << 8) | (data[5] & 0xff);
        if (version > VERSION) {
            throw new NewerVaultException(version);
        }
        if (version != VERSION) {
            throw new VaultFormatException(Message.SEALED_VERSION_UNKNOWN, version);
        }
        int ivLength = data[header.length] & 0xff;
        int offset = header.length + 1 + ivLength;
        if (ivLength < 12 || ivLength > 32 || data.length < offset + TAG_BITS / 8) {
            throw new VaultFormatException(Message.SEALED_DAMAGED);
        }
        Cipher cipher = Cipher.getInstance(TRANSFORMATION);
        cipher.init(Cipher.DECRYPT_MODE, key, new GCMParameterSpec(TAG_BITS, data, header.length + 1, ivLength));
        cipher.updateAAD(header);
        try {
            return cipher.doFinal(data, offset, data.length - offset);
        } catch (AEADBadTagException e) {
            throw new VaultFormatException(e, Message.SEALED_OTHER_KEY);
        }
    }

    private static byte[] header() {
        return new byte[] {MAGIC[0], MAGIC[1], MAGIC[2], MAGIC[3], 0, (byte) VERSION};
    }
}
