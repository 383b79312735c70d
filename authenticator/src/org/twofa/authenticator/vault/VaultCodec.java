package org.twofa.authenticator.vault;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.twofa.authenticator.otp.Algorithm;
import org.twofa.authenticator.otp.Base32;
import org.twofa.authenticator.otp.HotpKey;
import org.twofa.authenticator.otp.Message;
import org.twofa.authenticator.otp.Totp;

/**
 * The vault's plaintext serialisation, documented in
 * {@code authenticator/docs/vault.md}: magic {@code 2FAV}, a 16-bit format
 * version, the JSON length, the JSON, and a SHA-256 of everything before it.
 * The app encrypts the result with {@link VaultCipher}.
 */
public final class VaultCodec {
    /** The format this code writes and the newest it reads. */
    public static final int FORMAT_VERSION = 1;

    static final byte[] MAGIC = {'2', 'F', 'A', 'V'};
    private static final int HEADER = 4 + 2 + 4;
    private static final int DIGEST = 32;
    /** A sanity limit: thousands of accounts fit in far less. */
    private static final int MAX_JSON = 4 * 1024 * 1024;

    private VaultCodec() {}

    public static byte[] encode(Vault vault) {
        List<Object> accounts = new ArrayList<Object>();
        for (Account a : vault.accounts()) {
            accounts.add(accountToJson(a));
        }
        Map<String, Object> root = new LinkedHashMap<String, Object>();
        root.put("accounts", accounts);
        return envelope(FORMAT_VERSION, Json.write(root).getBytes(StandardCharsets.UTF_8));
    }

    public static Vault decode(byte[] data) throws VaultFormatException {
        if (data.length < MAGIC.length + 2) {
            throw new VaultFormatException(Message.VAULT_TRUNCATED, data.length);
        }
        for (int i = 0; i < MAGIC.length; i++) {
            if (data[i] != MAGIC[i]) {
                throw new VaultFormatException(Message.VAULT_WRONG_MAGIC);
            }
        }
        ByteBuffer in = ByteBuffer.wrap(data);
        in.position(MAGIC.length);
        int version = in.getShort() & 0xffff;
        // The version comes before the checksum: a newer format may checksum differently.
        if (version > FORMAT_VERSION) {
            throw new NewerVaultException(version);
        }
        if (version < 1) {
            throw new VaultFormatException(Message.VAULT_VERSION_UNKNOWN, version);
        }
        if (data.length < HEADER + DIGEST) {
            throw new VaultFormatException(Message.VAULT_TRUNCATED, data.length);
        }
        long length = in.getInt() & 0xffffffffL;
        if (length > MAX_JSON || length != data.length - HEADER - DIGEST) {
            throw new VaultFormatException(Message.VAULT_LENGTH, length, data.length - HEADER - DIGEST);
        }
        byte[] expected = sha256(data, 0, data.length - DIGEST);
        byte[] actual = new byte[DIGEST];
        System.arraycopy(data, data.length - DIGEST, actual, 0, DIGEST);
        if (!MessageDigest.isEqual(expected, actual)) {
            throw new VaultFormatException(Message.VAULT_CHECKSUM);
        }
        String json;
        try {
            json = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(data, HEADER, (int) length))
                    .toString();
        } catch (CharacterCodingException e) {
            throw new VaultFormatException(e, Message.VAULT_NOT_UTF8);
        }
        Object root;
        try {
            root = Json.parse(json);
        } catch (Json.ParseException e) {
            throw new VaultFormatException(e, Message.VAULT_CORRUPTED, e.getMessage());
        }
        Vault vault = new Vault();
        Map<?, ?> rootMap = asMap(root, Message.text("the vault", "o cofre"));
        for (Object item : asList(rootMap.get("accounts"), "accounts")) {
            Account account = accountFromJson(asMap(item, Message.text("an account", "uma conta")));
            if (vault.find(account.id()) != null) {
                throw new VaultFormatException(Message.VAULT_DUPLICATE_ID, account.id());
            }
            vault.add(account);
        }
        return vault;
    }

    /** Header + JSON + checksum; package-private so tests can forge other versions. */
    static byte[] envelope(int version, byte[] json) {
        ByteBuffer out = ByteBuffer.allocate(HEADER + json.length + DIGEST);
        out.put(MAGIC);
        out.putShort((short) version);
        out.putInt(json.length);
        out.put(json);
        out.put(sha256(out.array(), 0, HEADER + json.length));
        return out.array();
    }

    private static Map<String, Object> accountToJson(Account a) {
        Map<String, Object> m = new LinkedHashMap<String, Object>();
        m.put("kind", a.kind());
        m.put("id", a.id());
        m.put("issuer", a.issuer());
        m.put("name", a.name());
        if (a instanceof TotpAccount) {
            Totp t = ((TotpAccount) a).totp();
            m.put("secret", Base32.encode(t.secret()));
            m.put("algorithm", t.algorithm().name());
            m.put("digits", Long.valueOf(t.digits()));
            m.put("period", Long.valueOf(t.period()));
        } else if (a instanceof HotpAccount) {
            HotpKey h = ((HotpAccount) a).hotp();
            m.put("secret", Base32.encode(h.secret()));
            m.put("algorithm", h.algorithm().name());
            m.put("digits", Long.valueOf(h.digits()));
            m.put("counter", Long.valueOf(h.counter()));
        } else {
            throw new IllegalArgumentException("no serialisation for account kind " + a.kind());
        }
        return m;
    }

    private static Account accountFromJson(Map<?, ?> m) throws VaultFormatException {
        String kind = string(m, "kind");
        String id = string(m, "id");
        String issuer = string(m, "issuer");
        String name = string(m, "name");
        if (id.isEmpty()) {
            throw new VaultFormatException(Message.VAULT_EMPTY_ID);
        }
        if (TotpAccount.KIND.equals(kind) || HotpAccount.KIND.equals(kind)) {
            byte[] secret;
            try {
                secret = Base32.decode(string(m, "secret"));
            } catch (Base32.InvalidBase32Exception e) {
                throw new VaultFormatException(e, Message.VAULT_SECRET_NOT_BASE32);
            }
            Algorithm algorithm = Algorithm.fromName(string(m, "algorithm"));
            if (algorithm == null) {
                throw new VaultFormatException(Message.VAULT_UNKNOWN_ALGORITHM, string(m, "algorithm"));
            }
            try {
                if (HotpAccount.KIND.equals(kind)) {
                    Object counter = m.get("counter");
                    if (!(counter instanceof Long)) {
                        throw new VaultFormatException(Message.VAULT_NOT_NUMBER, "counter");
                    }
                    HotpKey hotp = new HotpKey(secret, algorithm, (int) number(m, "digits"), (Long) counter);
                    return new HotpAccount(id, issuer, name, hotp);
                }
                Totp totp = new Totp(secret, algorithm, (int) number(m, "digits"), (int) number(m, "period"));
                return new TotpAccount(id, issuer, name, totp);
            } catch (IllegalArgumentException e) {
                throw new VaultFormatException(e, Message.VAULT_CORRUPTED, e.getMessage());
            }
        }
        throw new VaultFormatException(Message.VAULT_UNKNOWN_KIND, kind);
    }

    private static Map<?, ?> asMap(Object o, Object what) throws VaultFormatException {
        if (!(o instanceof Map)) {
            throw new VaultFormatException(Message.VAULT_NOT_OBJECT, what);
        }
        return (Map<?, ?>) o;
    }

    private static List<?> asList(Object o, Object what) throws VaultFormatException {
        if (!(o instanceof List)) {
            throw new VaultFormatException(Message.VAULT_NOT_LIST, what);
        }
        return (List<?>) o;
    }

    private static String string(Map<?, ?> m, String key) throws VaultFormatException {
        Object v = m.get(key);
        if (!(v instanceof String)) {
            throw new VaultFormatException(Message.VAULT_NOT_TEXT, key);
        }
        return (String) v;
    }

    private static long number(Map<?, ?> m, String key) throws VaultFormatException {
        Object v = m.get(key);
        if (!(v instanceof Long)) {
            throw new VaultFormatException(Message.VAULT_NOT_NUMBER, key);
        }
        long n = (Long) v;
        if (n < Integer.MIN_VALUE || n > Integer.MAX_VALUE) {
            throw new VaultFormatException(Message.VAULT_OUT_OF_RANGE, key);
        }
        return n;
    }

    private static byte[] sha256(byte[] data, int offset, int length) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            md.update(data, offset, length);
            return md.digest();
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is not available", e);
        }
    }
}
