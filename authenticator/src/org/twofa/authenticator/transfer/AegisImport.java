package org.twofa.authenticator.transfer;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import org.twofa.authenticator.otp.InvalidOtpAuthUriException;
import org.twofa.authenticator.otp.Message;
import org.twofa.authenticator.otp.OtpAuthUri;
import org.twofa.authenticator.vault.Json;

/**
 * Reads an Aegis vault export (JSON), plain or password-encrypted, as the
 * Aegis project documents it: {@code {"version":1,"header":{"slots":…,"params":…},"db":…}}.
 * Encrypted: a password slot (type 1) holds the master key, wrapped with
 * AES-256-GCM under scrypt(password, salt, n, r, p); {@code db} is the
 * base64 AES-256-GCM ciphertext of the content under the master key, whose
 * nonce and tag are in {@code header.params}. TOTP and HOTP entries are
 * imported; other types (Steam, Yandex, mOTP) are listed as skipped.
 */
public final class AegisImport {
    private static final int SLOT_PASSWORD = 1;
    /** scrypt bounds for a slot, against crafted files (Aegis uses N = 2^15, r = 8, p = 1). */
    private static final int MAX_N = 1 << 20;

    private AegisImport() {}

    /** True when the text looks like an Aegis vault (a JSON object with "header" and "db"). */
    public static boolean looksLikeAegis(String text) {
        String t = text.trim();
        return t.startsWith("{") && t.contains("\"header\"") && t.contains("\"db\"");
    }

    /** True when opening it needs a password. */
    public static boolean isEncrypted(String text) throws ImportException {
        return root(text).get("db") instanceof String;
    }

    public static ImportBatch read(String text, char[] password) throws ImportException {
        Map<?, ?> root = root(text);
        Object db = root.get("db");
        Map<?, ?> content;
        if (db instanceof Map) {
            content = (Map<?, ?>) db;
        } else if (db instanceof String) {
            if (password == null) {
                throw new ImportException(Message.AEGIS_ENCRYPTED);
            }
            content = decrypt(map(root.get("header"), "header"), (String) db, password);
        } else {
            throw new ImportException(Message.AEGIS_NO_DB);
        }
        return entries(content);
    }

    private static Map<?, ?> root(String text) throws ImportException {
        Object parsed;
        try {
            parsed = Json.parse(text.trim());
        } catch (Json.ParseException e) {
            throw new ImportException(e, Message.AEGIS_NOT_JSON, e.getMessage());
        }
        Map<?, ?> root = map(parsed, Message.text("the file", "o arquivo"));
        Object version = root.get("version");
        if (!(version instanceof Long) || !root.containsKey("db")) {
            throw new ImportException(Message.AEGIS_NO_VERSION);
        }
        if ((Long) version != 1) {
            throw new ImportException(Message.AEGIS_VERSION, version);
        }
        return root;
    }

    private static Map<?, ?> decrypt(Map<?, ?> header, String db, char[] password) throws ImportException {
        Map<?, ?> params = map(header.get("params"), "header.params");
        List<?> slots = list(header.get("slots"), "header.slots");
        byte[] pw = ExportFile.utf8(password);
        try {
            byte[] masterKey = null;
            boolean anyPasswordSlot = false;
            for (Object o : slots) {
                Map<?, ?> slot = map(o, Message.text("a slot", "um espaço de chave"));
                if (!Long.valueOf(SLOT_PASSWORD).equals(slot.get("type"))) {
                    continue; // biometric and raw slots are bound to the other phone
                }
                anyPasswordSlot = true;
                int n = (int) number(slot, "n", 2, MAX_N);
                int r = (int) number(slot, "r", 1, 32);
                int p = (int) number(slot, "p", 1, 16);
                byte[] salt = Codecs.hex(string(slot, "salt"),
                        Message.text("the slot's salt", "o sal do espaço de chave"));
                byte[] slotKey;
                try {
                    slotKey = Scrypt.derive(pw, salt, n, r, p, 32);
                } catch (IllegalArgumentException e) {
                    throw new ImportException(e, Message.AEGIS_SCRYPT_RANGE, e.getMessage());
                }
                Map<?, ?> keyParams = map(slot.get("key_params"), "key_params");
                try {
                    masterKey = gcmOpen(slotKey,
                            Codecs.hex(string(keyParams, "nonce"), Message.text("a nonce", "um nonce")),
                            Codecs.hex(string(slot, "key"), Message.text("a wrapped key", "uma chave cifrada")),
                            Codecs.hex(string(keyParams, "tag"), Message.text("a tag", "uma tag")));
                    break;
                } catch (AEADBadTagException e) {
                    // another slot may hold another password
                } finally {
                    Arrays.fill(slotKey, (byte) 0);
                }
            }
            if (!anyPasswordSlot) {
                throw new ImportException(Message.AEGIS_NO_PASSWORD_SLOT);
            }
            if (masterKey == null) {
                throw new WrongPasswordException();
            }
            byte[] plain;
            try {
                plain = gcmOpen(masterKey, Codecs.hex(string(params, "nonce"), Message.text("the nonce", "o nonce")),
                        Codecs.base64(db), Codecs.hex(string(params, "tag"), Message.text("the tag", "a tag")));
            } catch (AEADBadTagException e) {
                throw new ImportException(Message.AEGIS_TAG_MISMATCH);
            } finally {
                Arrays.fill(masterKey, (byte) 0);
            }
            try {
                return map(Json.parse(new String(plain, StandardCharsets.UTF_8)),
                        Message.text("the content", "o conteúdo"));
            } catch (Json.ParseException e) {
                throw new ImportException(e, Message.AEGIS_CONTENT_NOT_JSON, e.getMessage());
            }
        } catch (GeneralSecurityException e) {
            throw new ImportException(e, Message.AEGIS_CANNOT_DECRYPT, e.getMessage());
        } finally {
            Arrays.fill(pw, (byte) 0);
        }
    }

    private static byte[] gcmOpen(byte[] key, byte[] nonce, byte[] ciphertext, byte[] tag)
            throws GeneralSecurityException {
        Cipher cipher = Cipher.getInstance("AES/GCM/NoPadding");
        cipher.init(Cipher.DECRYPT_MODE, new SecretKeySpec(key, "AES"), new GCMParameterSpec(tag.length * 8, nonce));
        cipher.update(ciphertext);
        return cipher.doFinal(tag);
    }

    private static ImportBatch entries(Map<?, ?> content) throws ImportException {
        ImportBatch batch = new ImportBatch();
        for (Object o : list(content.get("entries"), "entries")) {
            Map<?, ?> e = map(o, Message.text("an entry", "uma entrada"));
            String type = e.get("type") instanceof String ? (String) e.get("type") : "?";
            String name = e.get("name") instanceof String ? (String) e.get("name") : "";
            String issuer = e.get("issuer") instanceof String ? (String) e.get("issuer") : "";
            String who = issuer.isEmpty() ? name : issuer + " (" + name + ")";
            if (!type.equals("totp") && !type.equals("hotp")) {
                batch.skip(who, Message.SKIP_TYPE, type);
                continue;
            }
            Map<?, ?> info = map(e.get("info"), Message.text("an entry's info", "as informações de uma entrada"));
            try {
                batch.add(OtpAuthUri.manual(type.equals("hotp"), issuer, name.trim().isEmpty() ? issuer : name,
                        text(info.get("secret")), text(info.get("algo")), text(info.get("digits")),
                        text(info.get("period")), text(info.get("counter"))));
            } catch (InvalidOtpAuthUriException ex) {
                batch.skip(who, ex);
            }
        }
        return batch;
    }

    private static String text(Object o) {
        return o == null ? null : o.toString();
    }

    private static Map<?, ?> map(Object o, Object what) throws ImportException {
        if (!(o instanceof Map)) {
            throw new ImportException(Message.AEGIS_NOT_OBJECT, what);
        }
        return (Map<?, ?>) o;
    }

    private static List<?> list(Object o, Object what) throws ImportException {
        if (!(o instanceof List)) {
            throw new ImportException(Message.AEGIS_NOT_LIST, what);
        }
        return (List<?>) o;
    }

    private static String string(Map<?, ?> m, String key) throws ImportException {
        Object v = m.get(key);
        if (!(v instanceof String)) {
            throw new ImportException(Message.AEGIS_MISSING, key);
        }
        return (String) v;
    }

    private static long number(Map<?, ?> m, String key, long min, long max) throws ImportException {
        Object v = m.get(key);
        if (!(v instanceof Long) || (Long) v < min || (Long) v > max) {
            throw new ImportException(Message.AEGIS_SCRYPT_PARAMETER, key, v);
        }
        return (Long) v;
    }
}
