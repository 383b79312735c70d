package org.twofa.authenticator.otp;

import java.util.Arrays;

/** RFC 6238 TOTP parameters of one account: secret, hash, digits and period. */
public final class Totp {
    public static final int DEFAULT_DIGITS = 6;
    public static final int DEFAULT_PERIOD = 30;
    /** A day; longer periods are certainly a mistake in the link. */
    public static final int MAX_PERIOD = 86400;

    private final byte[] secret;
    private final Algorithm algorithm;
    private final int digits;
    private final int period;

    public Totp(byte[] secret, Algorithm algorithm, int digits, int period) {
        if (secret.length == 0) {
            throw new IllegalArgumentException("the secret is empty");
        }
        if (algorithm == null) {
            throw new IllegalArgumentException("no algorithm");
        }
        if (digits < Hotp.MIN_DIGITS || digits > Hotp.MAX_DIGITS) {
            throw new IllegalArgumentException("digits must be 6 to 8, not " + digits);
        }
        if (period < 1 || period > MAX_PERIOD) {
            throw new IllegalArgumentException("period must be 1 to " + MAX_PERIOD + " seconds, not " + period);
        }
        this.secret = secret.clone();
        this.algorithm = algorithm;
        this.digits = digits;
        this.period = period;
    }

    /** The time step (RFC 6238 T) that {@code unixSeconds} falls in. */
    public long step(long unixSeconds) {
        // Not Math.floorDiv: real Android has it only from API 24 on.
        long q = unixSeconds / period;
        return (unixSeconds % period != 0 && unixSeconds < 0) ? q - 1 : q;
    }

    /** The code valid at {@code unixSeconds}. */
    public String code(long unixSeconds) {
        return Hotp.code(secret, step(unixSeconds), digits, algorithm);
    }

    /** Seconds until the code of {@code unixSeconds} expires (1 to period). */
    public int secondsRemaining(long unixSeconds) {
        return (int) (period - (unixSeconds - step(unixSeconds) * period));
    }

    /** {@code 123456} as {@code 123 456}, {@code 12345678} as {@code 1234 5678}, 7 digits as {@code 123 4567}. */
    public static String group(String code) {
        int half = code.length() / 2;
        return code.substring(0, half) + " " + code.substring(half);
    }

    public byte[] secret() {
        return secret.clone();
    }

    public Algorithm algorithm() {
        return algorithm;
    }

    public int digits() {
        return digits;
    }

    public int period() {
        return period;
    }

    @Override
    public boolean equals(Object other) {
        if (!(other instanceof Totp)) {
            return false;
        }
        Totp o = (Totp) other;
        return Arrays.equals(secret, o.secret) && algorithm == o.algorithm && digits == o.digits && period == o.period;
    }

    @Override
    public int hashCode() {
        return ((Arrays.hashCode(secret) * 31 + algorithm.hashCode()) * 31 + digits) * 31 + period;
    }

    @Override
    public String toString() {
        // Never the secret: this may end up in a log.
        return "Totp(" + algorithm + ", " + digits + " digits, " + period + " s)";
    }
}
