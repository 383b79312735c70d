package org.twofa.authenticator.otp;

/**
 * A refusal the app shows to the person: a {@link Message} with its arguments, said in English by
 * {@link #getMessage()} (logs, tools) and in the phone's language by {@link #localizedMessage(String)}.
 * A message that came ready-made (already in the person's language) has no {@link Message}.
 */
public abstract class MessageException extends Exception implements Message.Text {
    private static final long serialVersionUID = 1L;

    private final Message message;
    private final transient Object[] args;

    /** A text already in the person's language (the app's own resources). */
    protected MessageException(String text) {
        super(text);
        this.message = null;
        this.args = null;
    }

    protected MessageException(Throwable cause, Message message, Object... args) {
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
