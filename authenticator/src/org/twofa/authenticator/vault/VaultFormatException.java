package org.twofa.authenticator.vault;

/** A vault that cannot be read: corrupted, truncated, or from a newer app. */
public class VaultFormatException extends Exception {
    private static final long serialVersionUID = 1L;

    public VaultFormatException(String message) {
        super(message);
    }

    public VaultFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
