package org.twofa.authenticator.vault;

import org.twofa.authenticator.otp.HotpKey;

/** A counter-based (RFC 4226 HOTP) account; the vault keeps its counter. */
public final class HotpAccount extends Account {
    public static final String KIND = "hotp";

    private final HotpKey hotp;

    public HotpAccount(String id, String issuer, String name, HotpKey hotp) {
        super(id, issuer, name);
        if (hotp == null) {
            throw new IllegalArgumentException("no HOTP parameters");
        }
        this.hotp = hotp;
    }

    public HotpKey hotp() {
        return hotp;
    }

    /** This account with the counter moved on by one: save it, then show its code. */
    public HotpAccount next() {
        return new HotpAccount(id(), issuer(), name(), hotp.next());
    }

    @Override
    public String kind() {
        return KIND;
    }

    @Override
    public HotpAccount renamed(String issuer, String name) {
        return new HotpAccount(id(), issuer, name, hotp);
    }

    @Override
    public HotpAccount withId(String newId) {
        return new HotpAccount(newId, issuer(), name(), hotp);
    }

    @Override
    public boolean sameSecret(Account other) {
        return other instanceof HotpAccount && hotp.sameKey(((HotpAccount) other).hotp);
    }
}
