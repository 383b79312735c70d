package org.twofa.authenticator.transfer;

import org.twofa.authenticator.otp.Message;

/** The password does not open the file (or the file was changed): ask again, nothing was imported. */
public final class WrongPasswordException extends ImportException {
    private static final long serialVersionUID = 1L;

    public WrongPasswordException() {
        super(Message.WRONG_PASSWORD);
    }
}
