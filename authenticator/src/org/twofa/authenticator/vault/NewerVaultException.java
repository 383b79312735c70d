package org.twofa.authenticator.vault;

/**
 * The vault was written by a newer version of the app. It is left untouched:
 * the user must update the app, never lose accounts to a downgrade.
 */
public final class NewerVaultException extends VaultFormatException {
    private static final long serialVersionUID = 1L;

    private final int version;

    public NewerVaultException(int version) {
        super("the vault has format version " + version + ", newer than the " + VaultCodec.FORMAT_VERSION
                + " this app reads; update the app");
        this.version = version;
    }

    public int version() {
        return version;
    }
}
