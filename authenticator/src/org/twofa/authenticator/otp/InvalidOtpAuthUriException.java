package org.twofa.authenticator.otp;

/**
 * An {@code otpauth://} link that cannot be added, with the part at fault
 * ({@link #field()}: "scheme", "type", "label", "secret", "issuer",
 * "algorithm", "digits", "period", "counter" or "query") and a message for
 * the user, in English ({@link #getMessage()}) or in the phone's language
 * ({@link #localizedMessage(String)}).
 */
public final class InvalidOtpAuthUriException extends Exception implements Message.Text {
    private static final long serialVersionUID = 1L;

    private final String field;
    private final Message message;
    private final transient Object[] args;

    public InvalidOtpAuthUriException(String field, Message message, Object... args) {
        super(message.format("en", args));
        this.field = field;
        this.message = message;
        this.args = args.clone();
    }

    public String field() {
        return field;
    }

    public Message message() {
        return message;
    }

    /** The message in {@code language} ("pt", "en", ...; English when the app does not speak it). */
    public String localizedMessage(String language) {
        return args == null ? getMessage() : message.format(language, args);
    }

    @Override
    public String in(String language) {
        return localizedMessage(language);
    }
}
