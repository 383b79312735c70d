package org.twofa.authenticator.otp;

/**
 * An {@code otpauth://} link that cannot be added, with the part at fault
 * ({@link #field()}: "scheme", "type", "label", "secret", "issuer",
 * "algorithm", "digits", "period", "counter" or "query") and a message for
 * the user, in English ({@link #getMessage()}) or in the phone's language
 * ({@link #localizedMessage(String)}).
 */
public final class InvalidOtpAuthUriException extends MessageException {
    private static final long serialVersionUID = 1L;

    private final String field;

    public InvalidOtpAuthUriException(String field, Message message, Object... args) {
        super(null, message, args);
        this.field = field;
    }

    public String field() {
        return field;
    }
}
