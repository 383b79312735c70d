package org.twofa.authenticator.vault;

/**
 * One entry of the vault. Each kind of account is a subclass with its own
 * {@link #kind()} name, written as the "kind" field of the vault: today
 * {@link TotpAccount} and {@link HotpAccount}. A new kind (push approval, say) is a new subclass
 * plus one case in {@link VaultCodec}.
 */
public abstract class Account {
    private final String id;
    private final String issuer;
    private final String name;

    protected Account(String id, String issuer, String name) {
        if (id == null || id.isEmpty()) {
            throw new IllegalArgumentException("an account needs an id");
        }
        this.id = id;
        this.issuer = issuer == null ? "" : issuer;
        this.name = name == null ? "" : name;
    }

    /** Stable identifier, never shown; survives renames. */
    public final String id() {
        return id;
    }

    /** Service name; may be empty. */
    public final String issuer() {
        return issuer;
    }

    /** Account name within the service (e-mail, user name). */
    public final String name() {
        return name;
    }

    /** The "kind" written in the vault, e.g. "totp". */
    public abstract String kind();

    /** The same account under another issuer and name. */
    public abstract Account renamed(String issuer, String name);

    /**
     * True when {@code other} generates the same codes (same kind, secret and
     * parameters; an HOTP counter may differ): importing it would add a copy.
     */
    public abstract boolean sameSecret(Account other);

    /** Same issuer and name, ignoring case and surrounding spaces: the user could not tell them apart. */
    public final boolean sameLabel(String otherIssuer, String otherName) {
        return issuer.trim().equalsIgnoreCase(otherIssuer == null ? "" : otherIssuer.trim())
                && name.trim().equalsIgnoreCase(otherName == null ? "" : otherName.trim());
    }

    /** The same secret under this account's id: what replacing an entry saves. */
    public abstract Account withId(String newId);
}
