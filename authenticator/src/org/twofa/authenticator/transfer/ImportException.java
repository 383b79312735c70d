package org.twofa.authenticator.transfer;

import org.twofa.authenticator.otp.Message;

/**
 * A file, QR code or password that cannot be imported; the message says why, for the user, in English
 * ({@link #getMessage()}: logs, tools) or in the phone's language ({@link #localizedMessage(String)}).
 */
public class ImportException extends Exception implements Message.Text {
    private static final long serialVersionUID = 1L;

    private final Message message;
    private final transient Object[] args;

    /** A message already in the user's language (the app's own resources). */
    public ImportException(String message) {
        super(message);
        this.message = null;
        this.args = null;
    }

    public ImportException(Message message, Object... args) {
        this((Throwable) null, message, args);
    }

    public ImportException(Throwable cause, Message message, Object... args) {
        super(message.format("en", args), cause);
        this.message = message;
        this.args = args.clone();
    }

    /** The core's message, or null when the text came ready-made. */
    public Message message() {
        return message;
    }

    /** The message in {@code language} ("pt", "en", ...; English when the app does not speak it). */
    public String localizedMessage(String language) {
        return message == null || args == null ? getMessage() : message.format(language, args);
    }

    @Override
    public String in(String language) {
        return localizedMessage(language);
    }
}
