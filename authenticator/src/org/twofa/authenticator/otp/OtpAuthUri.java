package org.twofa.authenticator.otp;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;

/**
 * A parser for the Key URI format
 * ({@code otpauth://totp/Issuer:account?secret=…&issuer=…&algorithm=…&digits=…&period=…},
 * {@code otpauth://hotp/…&counter=…}).
 *
 * <p>Every parameter it understands must be valid; a bad one is an error
 * naming the field rather than a silently different account. It is lenient
 * where the format and other authenticators are: the {@code issuer}
 * parameter wins over a differing issuer prefix in the label, {@code +} in a
 * query value is a space, and base32 secrets are read as {@link Base32}
 * describes. Parameters it does not know (e.g. {@code image}) are ignored, as
 * the format asks.
 */
public final class OtpAuthUri {
    /** RFC 4226 asks for at least 128 bits and recommends 160; 80 is the floor real services use. */
    public static final int MIN_SECRET_BYTES = 10;

    private final String issuer;
    private final String accountName;
    private final Totp totp;
    private final HotpKey hotp;

    public OtpAuthUri(String issuer, String accountName, Totp totp) {
        this(issuer, accountName, totp, null);
    }

    public OtpAuthUri(String issuer, String accountName, HotpKey hotp) {
        this(issuer, accountName, null, hotp);
    }

    private OtpAuthUri(String issuer, String accountName, Totp totp, HotpKey hotp) {
        this.issuer = issuer;
        this.accountName = accountName;
        this.totp = totp;
        this.hotp = hotp;
    }

    /** True for a counter-based ({@code hotp}) account: then {@link #hotp()} is set, not {@link #totp()}. */
    public boolean isHotp() {
        return hotp != null;
    }

    /** The HOTP parameters, or null for a time-based account. */
    public HotpKey hotp() {
        return hotp;
    }

    /** The issuer (service name), or the empty string when the link names none. */
    public String issuer() {
        return issuer;
    }

    public String accountName() {
        return accountName;
    }

    /** The TOTP parameters, or null for a counter-based account. */
    public Totp totp() {
        return totp;
    }

    public static OtpAuthUri parse(String uri) throws InvalidOtpAuthUriException {
        if (uri == null) {
            throw new InvalidOtpAuthUriException("scheme", Message.NO_LINK);
        }
        String text = uri.trim();
        int schemeEnd = text.indexOf("://");
        if (schemeEnd < 0 || !text.substring(0, schemeEnd).equalsIgnoreCase("otpauth")) {
            throw new InvalidOtpAuthUriException("scheme", Message.NOT_OTPAUTH);
        }
        String rest = text.substring(schemeEnd + 3);
        int hash = rest.indexOf('#');
        if (hash >= 0) {
            rest = rest.substring(0, hash);
        }
        int slash = rest.indexOf('/');
        int question = rest.indexOf('?');
        int typeEnd = slash >= 0 ? slash : (question >= 0 ? question : rest.length());
        String type = rest.substring(0, typeEnd).toLowerCase(Locale.ROOT);
        if (!type.equals("totp") && !type.equals("hotp")) {
            throw new InvalidOtpAuthUriException("type", Message.UNKNOWN_TYPE, type);
        }
        if (slash < 0 || (question >= 0 && question < slash)) {
            throw new InvalidOtpAuthUriException("label", Message.NO_LABEL, type);
        }
        String rawLabel = question >= 0 ? rest.substring(slash + 1, question) : rest.substring(slash + 1);
        String rawQuery = question >= 0 ? rest.substring(question + 1) : "";

        String label = percentDecode(rawLabel, "label");
        String labelIssuer = null;
        String account = label;
        int colon = label.indexOf(':');
        if (colon >= 0) {
            labelIssuer = label.substring(0, colon).trim();
            account = label.substring(colon + 1).trim();
            if (labelIssuer.isEmpty()) {
                throw new InvalidOtpAuthUriException("label", Message.EMPTY_LABEL_ISSUER);
            }
        } else {
            account = account.trim();
        }
        if (account.isEmpty()) {
            throw new InvalidOtpAuthUriException("label", Message.NO_ACCOUNT_IN_LABEL);
        }

        Map<String, String> params = parseQuery(rawQuery);

        String issuer = params.get("issuer");
        if (issuer != null && !issuer.trim().isEmpty()) {
            // The parameter wins over a differing label prefix, as the format recommends.
            issuer = issuer.trim();
        } else {
            issuer = labelIssuer != null ? labelIssuer : "";
        }
        return build(type.equals("hotp"), issuer, account, params.get("secret"), params.get("algorithm"),
                params.get("digits"), params.get("period"), params.get("counter"));
    }

    /**
     * An account typed in by hand, checked exactly as a link's parameters
     * are: {@code null} for algorithm, digits, period or counter means the
     * format's default (SHA1, 6, 30 s, 0).
     */
    public static OtpAuthUri manual(boolean counterBased, String issuer, String accountName, String secret,
            String algorithm, String digits, String period, String counter) throws InvalidOtpAuthUriException {
        String name = accountName == null ? "" : accountName.trim();
        if (name.isEmpty()) {
            throw new InvalidOtpAuthUriException("label", Message.NO_ACCOUNT_NAME);
        }
        return build(counterBased, issuer == null ? "" : issuer.trim(), name, secret, algorithm, digits, period,
                counterBased && (counter == null || counter.trim().isEmpty()) ? "0" : counter);
    }

    private static OtpAuthUri build(boolean counterBased, String issuer, String account, String secretText,
            String algorithmText, String digitsText, String periodText, String counterText)
            throws InvalidOtpAuthUriException {
        if (secretText == null || secretText.trim().isEmpty()) {
            throw new InvalidOtpAuthUriException("secret", Message.NO_SECRET);
        }
        byte[] secret;
        try {
            secret = Base32.decode(secretText);
        } catch (Base32.InvalidBase32Exception e) {
            throw new InvalidOtpAuthUriException("secret", Message.SECRET_NOT_BASE32, e);
        }
        if (secret.length < MIN_SECRET_BYTES) {
            throw new InvalidOtpAuthUriException("secret", Message.SECRET_TOO_SHORT, secret.length * 8,
                    MIN_SECRET_BYTES * 8);
        }

        Algorithm algorithm = Algorithm.SHA1;
        if (algorithmText != null) {
            algorithm = Algorithm.fromName(algorithmText.trim());
            if (algorithm == null) {
                throw new InvalidOtpAuthUriException("algorithm", Message.UNKNOWN_ALGORITHM, algorithmText);
            }
        }

        int digits = Totp.DEFAULT_DIGITS;
        if (digitsText != null) {
            digits = parseNumber(digitsText, "digits");
            if (digits < Hotp.MIN_DIGITS || digits > Hotp.MAX_DIGITS) {
                throw new InvalidOtpAuthUriException("digits", Message.DIGITS_RANGE, digitsText);
            }
        }

        if (counterBased) {
            if (counterText == null) {
                throw new InvalidOtpAuthUriException("counter", Message.NO_COUNTER);
            }
            long counter = parseLong(counterText, "counter");
            return new OtpAuthUri(issuer, account, new HotpKey(secret, algorithm, digits, counter));
        }

        int period = Totp.DEFAULT_PERIOD;
        if (periodText != null) {
            period = parseNumber(periodText, "period");
            if (period < 1 || period > Totp.MAX_PERIOD) {
                throw new InvalidOtpAuthUriException("period", Message.PERIOD_RANGE, Totp.MAX_PERIOD, periodText);
            }
        }
        return new OtpAuthUri(issuer, account, new Totp(secret, algorithm, digits, period));
    }

    /** The link for these parameters, e.g. to show or export. */
    public String toUri() {
        StringBuilder b = new StringBuilder(isHotp() ? "otpauth://hotp/" : "otpauth://totp/");
        if (!issuer.isEmpty()) {
            b.append(percentEncode(issuer)).append(':');
        }
        b.append(percentEncode(accountName));
        b.append("?secret=").append(Base32.encode(isHotp() ? hotp.secret() : totp.secret()));
        if (!issuer.isEmpty()) {
            b.append("&issuer=").append(percentEncode(issuer));
        }
        b.append("&algorithm=").append((isHotp() ? hotp.algorithm() : totp.algorithm()).name());
        b.append("&digits=").append(isHotp() ? hotp.digits() : totp.digits());
        if (isHotp()) {
            b.append("&counter=").append(hotp.counter());
        } else {
            b.append("&period=").append(totp.period());
        }
        return b.toString();
    }

    private static Map<String, String> parseQuery(String query) throws InvalidOtpAuthUriException {
        Map<String, String> params = new HashMap<String, String>();
        if (query.isEmpty()) {
            return params;
        }
        for (String pair : query.split("&", -1)) {
            if (pair.isEmpty()) {
                continue;
            }
            int eq = pair.indexOf('=');
            String key = percentDecode(eq >= 0 ? pair.substring(0, eq) : pair, "query").toLowerCase(Locale.ROOT);
            // In a query, '+' is a space (form encoding), as other authenticators read it.
            String value = eq >= 0 ? percentDecode(pair.substring(eq + 1).replace('+', ' '), key) : "";
            if (params.containsKey(key)) {
                throw new InvalidOtpAuthUriException(fieldName(key), Message.PARAMETER_TWICE, key);
            }
            params.put(key, value);
        }
        return params;
    }

    private static String fieldName(String key) {
        String[] known = {"secret", "issuer", "algorithm", "digits", "period", "counter"};
        for (String k : known) {
            if (k.equals(key)) {
                return k;
            }
        }
        return "query";
    }

    private static int parseNumber(String text, String field) throws InvalidOtpAuthUriException {
        String t = text.trim();
        if (t.isEmpty() || t.length() > 9) {
            throw new InvalidOtpAuthUriException(field, Message.NOT_A_NUMBER, Message.field(field), text);
        }
        for (int i = 0; i < t.length(); i++) {
            if (t.charAt(i) < '0' || t.charAt(i) > '9') {
                throw new InvalidOtpAuthUriException(field, Message.NOT_A_NUMBER, Message.field(field), text);
            }
        }
        return Integer.parseInt(t);
    }

    private static long parseLong(String text, String field) throws InvalidOtpAuthUriException {
        String t = text.trim();
        if (t.isEmpty() || t.length() > 18) {
            throw new InvalidOtpAuthUriException(field, Message.NOT_A_NUMBER, Message.field(field), text);
        }
        for (int i = 0; i < t.length(); i++) {
            if (t.charAt(i) < '0' || t.charAt(i) > '9') {
                throw new InvalidOtpAuthUriException(field, Message.NOT_A_NUMBER, Message.field(field), text);
            }
        }
        return Long.parseLong(t);
    }

    /** RFC 3986 percent-decoding to UTF-8; '+' stays '+' (query values turn it into a space first). */
    static String percentDecode(String text, String field) throws InvalidOtpAuthUriException {
        if (text.indexOf('%') < 0) {
            return text;
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream(text.length());
        int plainStart = 0;
        for (int i = 0; i < text.length(); i++) {
            if (text.charAt(i) != '%') {
                continue;
            }
            byte[] plain = utf8(text.substring(plainStart, i));
            out.write(plain, 0, plain.length);
            if (i + 2 >= text.length()) {
                throw new InvalidOtpAuthUriException(field, Message.PERCENT_SHORT, Message.field(field));
            }
            int hi = Character.digit(text.charAt(i + 1), 16);
            int lo = Character.digit(text.charAt(i + 2), 16);
            if (hi < 0 || lo < 0) {
                throw new InvalidOtpAuthUriException(field, Message.PERCENT_NOT_HEX, Message.field(field),
                        text.substring(i, i + 3));
            }
            out.write(hi * 16 + lo);
            i += 2;
            plainStart = i + 1;
        }
        byte[] tail = utf8(text.substring(plainStart));
        out.write(tail, 0, tail.length);
        try {
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(out.toByteArray()))
                    .toString();
        } catch (CharacterCodingException e) {
            throw new InvalidOtpAuthUriException(field, Message.PERCENT_NOT_UTF8, Message.field(field));
        }
    }

    static String percentEncode(String text) {
        StringBuilder b = new StringBuilder();
        for (byte x : utf8(text)) {
            int v = x & 0xff;
            if ((v >= 'A' && v <= 'Z') || (v >= 'a' && v <= 'z') || (v >= '0' && v <= '9')
                    || v == '-' || v == '.' || v == '_' || v == '~' || v == '@') {
                b.append((char) v);
            } else {
                b.append('%').append(Character.toUpperCase(Character.forDigit(v >> 4, 16)))
                        .append(Character.toUpperCase(Character.forDigit(v & 15, 16)));
            }
        }
        return b.toString();
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
