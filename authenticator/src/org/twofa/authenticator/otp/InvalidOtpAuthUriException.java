package org.twofa.authenticator.otp;

/**
 * An {@code otpauth://} link that cannot be added, with the part at fault
 * ({@link #field()}: "scheme", "type", "label", "secret", "issuer",
 * "algorithm", "digits", "period", "counter" or "query") and a message for the user.
 */
public final class InvalidOtpAuthUriException extends Exception {
    private static final long serialVersionUID = 1L;

    private final String field;

    public InvalidOtpAuthUriException(String field, String message) {
        super(message);
        this.field = field;
    }

    public String field() {
        return field;
    }
}
