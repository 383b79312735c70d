package org.twofa.authenticator.otp;

import java.util.Locale;

/** The HMAC hash functions the Key URI format allows. */
public enum Algorithm {
    SHA1("HmacSHA1"),
    SHA256("HmacSHA256"),
    SHA512("HmacSHA512");

    private final String macName;

    Algorithm(String macName) {
        this.macName = macName;
    }

    /** The JCA name of the HMAC, as javax.crypto.Mac and Android both know it. */
    public String macName() {
        return macName;
    }

    /**
     * The algorithm named {@code name} (case-insensitive, as in otpauth links),
     * or {@code null} when it is not one of SHA1, SHA256, SHA512.
     */
    public static Algorithm fromName(String name) {
        String upper = name.trim().toUpperCase(Locale.ROOT);
        for (Algorithm a : values()) {
            if (a.name().equals(upper)) {
                return a;
            }
        }
        return null;
    }
}
