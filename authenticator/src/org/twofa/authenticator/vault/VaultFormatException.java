package org.twofa.authenticator.vault;

import org.twofa.authenticator.otp.Message;
import org.twofa.authenticator.otp.MessageException;

/**
 * A vault that cannot be read: corrupted, truncated, or from a newer app. The message is in English
 * ({@link #getMessage()}: logs, tools) or in the phone's language ({@link #localizedMessage(String)}).
 */
public class VaultFormatException extends MessageException {
    private static final long serialVersionUID = 1L;

    public VaultFormatException(Message message, Object... args) {
        this((Throwable) null, message, args);
    }

    public VaultFormatException(Throwable cause, Message message, Object... args) {
        super(cause, message, args);
    }
}
