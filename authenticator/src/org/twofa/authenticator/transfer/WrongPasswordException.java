package org.twofa.authenticator.transfer;

/** The password does not open the file (or the file was changed): ask again, nothing was imported. */
public final class WrongPasswordException extends ImportException {
    private static final long serialVersionUID = 1L;

    public WrongPasswordException() {
        super("wrong password, or the file was damaged");
    }
}
