package org.twofa.authenticator.transfer;

/** A file, QR code or password that cannot be imported; the message says why, for the user. */
public class ImportException extends Exception {
    private static final long serialVersionUID = 1L;

    public ImportException(String message) {
        super(message);
    }

    public ImportException(String message, Throwable cause) {
        super(message, cause);
    }
}
