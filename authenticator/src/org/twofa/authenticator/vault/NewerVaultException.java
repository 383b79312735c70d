package org.twofa.authenticator.vault;

import org.twofa.authenticator.otp.Message;

/**
 * The vault was written by a newer version of the app. It is left untouched:
 * the user must update the app, never lose accounts to a downgrade.
 */
public final class NewerVaultException extends VaultFormatException {
    private static final long serialVersionUID = 1L;

    private final int version;

    public NewerVaultException(int version) {
        super(Message.VAULT_NEWER, version, VaultCodec.FORMAT_VERSION);
        this.version = version;
    }

    public int version() {
        return version;
    }
}
