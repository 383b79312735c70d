package org.twofa.authenticator.vault;

import org.twofa.authenticator.otp.Message;

/**
 * A vault that cannot be read: corrupted, truncated, or from a newer app. The message is in English
 * ({@link #getMessage()}: logs, tools) or in the phone's language ({@link #localizedMessage(String)}).
 */
public class VaultFormatException extends Exception implements Message.Text {
    private static final long serialVersionUID = 1L;

    private final Message message;
    private final transient Object[] args;

    public VaultFormatException(Message message, Object... args) {
        this((Throwable) null, message, args);
    }

    public VaultFormatException(Throwable cause, Message message, Object... args) {
        super(message.format("en", args), cause);
        this.message = message;
        this.args = args.clone();
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
