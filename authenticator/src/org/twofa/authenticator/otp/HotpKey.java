package org.twofa.authenticator.otp;

import java.util.Arrays;

/**
 * RFC 4226 HOTP parameters of one account: secret, hash, digits and the
 * counter of the next code to show. Immutable: {@link #next()} is the same
 * key one step on, which the app saves before it shows the code, so a code
 * is never shown twice.
 */
public final class HotpKey {
    private final byte[] secret;
    private final Algorithm algorithm;
    private final int digits;
    private final long counter;

    public HotpKey(byte[] secret, Algorithm algorithm, int digits, long counter) {
        if (secret.length == 0) {
            throw new IllegalArgumentException("the secret is empty");
        }
        if (algorithm == null) {
            throw new IllegalArgumentException("no algorithm");
        }
        if (digits < Hotp.MIN_DIGITS || digits > Hotp.MAX_DIGITS) {
            throw new IllegalArgumentException("digits must be 6 to 8, not " + digits);
        }
        if (counter < 0) {
            throw new IllegalArgumentException("the counter must not be negative, not " + counter);
        }
        this.secret = secret.clone();
        this.algorithm = algorithm;
        this.digits = digits;
        this.counter = counter;
    }

    /** The code for the current counter. */
    public String code() {
        return Hotp.code(secret, counter, digits, algorithm);
    }

    /** The same key with the counter moved on by one. */
    public HotpKey next() {
        return new HotpKey(secret, algorithm, digits, counter + 1);
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

    public long counter() {
        return counter;
    }

    /** Same secret, hash and digits, whatever the counter: the same account. */
    public boolean sameKey(HotpKey other) {
        return other != null && Arrays.equals(secret, other.secret) && algorithm == other.algorithm
                && digits == other.digits;
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof HotpKey && sameKey((HotpKey) other) && counter == ((HotpKey) other).counter;
    }

    @Override
    public int hashCode() {
        return ((Arrays.hashCode(secret) * 31 + algorithm.hashCode()) * 31 + digits) * 31 + (int) counter;
    }

    @Override
    public String toString() {
        // Never the secret: this may end up in a log.
        return "HotpKey(" + algorithm + ", " + digits + " digits, counter " + counter + ")";
    }
}
