package org.twofa.authenticator.otp;

import java.io.ByteArrayOutputStream;

/**
 * RFC 4648 base32, as used for TOTP secrets. Decoding forgives what people and
 * services commonly do to secrets, as other authenticators do: lower case,
 * spaces (the groups of four twofa shows), hyphens, missing or partial
 * padding, and a length that does not end on a whole byte (the bits left
 * over after the last whole byte are dropped, whatever their value). It
 * refuses characters outside the alphabet and '=' anywhere but at the end.
 */
public final class Base32 {
    private static final String ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

    private Base32() {}

    /** Thrown for text that is not base32; the message says what is wrong. */
    public static final class InvalidBase32Exception extends Exception implements Message.Text {
        private static final long serialVersionUID = 1L;

        private final Message message;
        private final transient Object[] args;

        InvalidBase32Exception(Message message, Object... args) {
            super(message.format("en", args));
            this.message = message;
            this.args = args.clone();
        }

        @Override
        public String in(String language) {
            return args == null ? getMessage() : message.format(language, args);
        }
    }

    public static byte[] decode(String text) throws InvalidBase32Exception {
        StringBuilder clean = new StringBuilder(text.length());
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == ' ' || c == '-' || c == '\t' || c == '\n' || c == '\r') {
                continue;
            }
            clean.append(c);
        }
        // Padding, whole or partial, may only end the text.
        int end = clean.length();
        while (end > 0 && clean.charAt(end - 1) == '=') {
            end--;
        }
        if (clean.length() - end > 7) {
            throw new InvalidBase32Exception(Message.BASE32_PADDING);
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream(end * 5 / 8);
        int buffer = 0;
        int bits = 0;
        for (int i = 0; i < end; i++) {
            char c = Character.toUpperCase(clean.charAt(i));
            int value = ALPHABET.indexOf(c);
            if (value < 0 || c > 127) {
                throw c == '='
                        ? new InvalidBase32Exception(Message.BASE32_PADDING_MIDDLE, i + 1)
                        : new InvalidBase32Exception(Message.BASE32_BAD_CHARACTER, clean.charAt(i), i + 1);
            }
            buffer = (buffer << 5) | value;
            bits += 5;
            if (bits >= 8) {
                bits -= 8;
                out.write((buffer >> bits) & 0xff);
            }
        }
        // Fewer than 8 bits left over: not a byte, dropped (even when non-zero).
        return out.toByteArray();
    }

    /** Upper case, unpadded: the form otpauth links carry. */
    public static String encode(byte[] data) {
        StringBuilder out = new StringBuilder((data.length * 8 + 4) / 5);
        int buffer = 0;
        int bits = 0;
        for (byte b : data) {
            buffer = (buffer << 8) | (b & 0xff);
            bits += 8;
            while (bits >= 5) {
                bits -= 5;
                out.append(ALPHABET.charAt((buffer >> bits) & 31));
            }
        }
        if (bits > 0) {
            out.append(ALPHABET.charAt((buffer << (5 - bits)) & 31));
        }
        return out.toString();
    }
}
