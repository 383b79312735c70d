package org.twofa.authenticator.vault;

import org.twofa.authenticator.otp.Totp;

/** A time-based one-time-password account. */
public final class TotpAccount extends Account {
    public static final String KIND = "totp";

    private final Totp totp;

    public TotpAccount(String id, String issuer, String name, Totp totp) {
        super(id, issuer, name);
        if (totp == null) {
            throw new IllegalArgumentException("no TOTP parameters");
        }
        this.totp = totp;
    }

    public Totp totp() {
        return totp;
    }

    @Override
    public String kind() {
        return KIND;
    }

    @Override
    public boolean sameSecret(Account other) {
        return other instanceof TotpAccount && totp.equals(((TotpAccount) other).totp);
    }

    @Override
    public TotpAccount withId(String newId) {
        return new TotpAccount(newId, issuer(), name(), totp);
    }

    @Override
    public TotpAccount renamed(String issuer, String name) {
        return new TotpAccount(id(), issuer, name, totp);
    }
}
