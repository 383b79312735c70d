package org.twofa.authenticator.transfer;

import org.twofa.authenticator.otp.Message;
import org.twofa.authenticator.otp.MessageException;

/**
 * A file, QR code or password that cannot be imported; the message says why, for the user, in English
 * ({@link #getMessage()}: logs, tools) or in the phone's language ({@link #localizedMessage(String)}).
 */
public class ImportException extends MessageException {
    private static final long serialVersionUID = 1L;

    /** A message already in the user's language (the app's own resources). */
    public ImportException(String message) {
        super(message);
    }

    public ImportException(Message message, Object... args) {
        this((Throwable) null, message, args);
    }

    public ImportException(Throwable cause, Message message, Object... args) {
        super(cause, message, args);
    }
}
