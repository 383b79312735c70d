package org.twofa.authenticator.transfer;

import java.io.ByteArrayOutputStream;
import org.twofa.authenticator.otp.Message;

/**
 * Base64 and hex, written here because java.util.Base64 exists on Android
 * only from API 26 and android.util.Base64 is not on the JVM.
 */
final class Codecs {
    private static final String B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    private Codecs() {}

    /** Standard or URL-safe alphabet, padding optional, whitespace ignored. */
    static byte[] base64(String text) throws ImportException {
        ByteArrayOutputStream out = new ByteArrayOutputStream(text.length() * 3 / 4);
        int buffer = 0;
        int bits = 0;
        boolean ended = false;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
                continue;
            }
            if (c == '=') {
                ended = true;
                continue;
            }
            if (ended) {
                throw new ImportException(Message.BASE64_AFTER_PADDING);
            }
            int v = c == '-' ? 62 : c == '_' ? 63 : B64.indexOf(c);
            if (v < 0) {
                throw new ImportException(Message.NOT_BASE64, c, i + 1);
            }
            buffer = (buffer << 6) | v;
            bits += 6;
            if (bits >= 8) {
                bits -= 8;
                out.write((buffer >> bits) & 0xff);
            }
        }
        if (bits >= 6) {
            throw new ImportException(Message.BASE64_TRUNCATED);
        }
        return out.toByteArray();
    }

    static String base64(byte[] data) {
        StringBuilder b = new StringBuilder((data.length + 2) / 3 * 4);
        for (int i = 0; i < data.length; i += 3) {
            int n = (data[i] & 0xff) << 16;
            if (i + 1 < data.length) {
                n |= (data[i + 1] & 0xff) << 8;
            }
            if (i + 2 < data.length) {
                n |= data[i + 2] & 0xff;
            }
            b.append(B64.charAt(n >> 18 & 63)).append(B64.charAt(n >> 12 & 63));
            b.append(i + 1 < data.length ? B64.charAt(n >> 6 & 63) : '=');
            b.append(i + 2 < data.length ? B64.charAt(n & 63) : '=');
        }
        return b.toString();
    }

    static byte[] hex(String text, Message.Text what) throws ImportException {
        if (text == null || text.length() % 2 != 0) {
            throw new ImportException(Message.NOT_HEX, what);
        }
        byte[] out = new byte[text.length() / 2];
        for (int i = 0; i < out.length; i++) {
            int hi = Character.digit(text.charAt(2 * i), 16);
            int lo = Character.digit(text.charAt(2 * i + 1), 16);
            if (hi < 0 || lo < 0) {
                throw new ImportException(Message.NOT_HEX, what);
            }
            out[i] = (byte) (hi * 16 + lo);
        }
        return out;
    }
}
