package org.twofa.authenticator.otp;

import java.security.GeneralSecurityException;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/** RFC 4226 HOTP with the dynamic truncation, for any hash of {@link Algorithm}. */
public final class Hotp {
    public static final int MIN_DIGITS = 6;
    public static final int MAX_DIGITS = 8;

    private static final int[] POWERS = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000};

    private Hotp() {}

    /** The {@code digits}-long code (zero-padded) for {@code counter}. */
    public static String code(byte[] secret, long counter, int digits, Algorithm algorithm) {
        if (digits < MIN_DIGITS || digits > MAX_DIGITS) {
            throw new IllegalArgumentException("digits must be 6 to 8, not " + digits);
        }
        byte[] message = new byte[8];
        for (int i = 7; i >= 0; i--) {
            message[i] = (byte) (counter & 0xff);
            counter >>>= 8;
        }
        byte[] hash;
        try {
            Mac mac = Mac.getInstance(algorithm.macName());
            mac.init(new SecretKeySpec(secret, algorithm.macName()));
            hash = mac.doFinal(message);
        } catch (GeneralSecurityException e) {
            // Every Java and Android runtime ships these three HMACs.
            throw new IllegalStateException(algorithm.macName() + " is not available", e);
        }
        int offset = hash[hash.length - 1] & 0x0f;
        int binary = ((hash[offset] & 0x7f) << 24)
                | ((hash[offset + 1] & 0xff) << 16)
                | ((hash[offset + 2] & 0xff) << 8)
                | (hash[offset + 3] & 0xff);
        String value = Integer.toString(binary % POWERS[digits]);
        StringBuilder padded = new StringBuilder(digits);
        for (int i = value.length(); i < digits; i++) {
            padded.append('0');
        }
        return padded.append(value).toString();
    }
}
