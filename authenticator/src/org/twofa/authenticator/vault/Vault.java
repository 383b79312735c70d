package org.twofa.authenticator.vault;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/** The accounts, in the order the user added them. Not thread-safe. */
public final class Vault {
    private final List<Account> accounts = new ArrayList<Account>();

    public List<Account> accounts() {
        return Collections.unmodifiableList(accounts);
    }

    public Account find(String id) {
        for (Account a : accounts) {
            if (a.id().equals(id)) {
                return a;
            }
        }
        return null;
    }

    public void add(Account account) {
        if (find(account.id()) != null) {
            throw new IllegalArgumentException("an account with this id already exists");
        }
        accounts.add(account);
    }

    /** The first account with the same issuer and name (see {@link Account#sameLabel}), or null. */
    public Account findSameLabel(String issuer, String name) {
        for (Account a : accounts) {
            if (a.sameLabel(issuer, name)) {
                return a;
            }
        }
        return null;
    }

    /** The first account that generates the same codes (see {@link Account#sameSecret}), or null. */
    public Account findSameSecret(Account candidate) {
        for (Account a : accounts) {
            if (a.sameSecret(candidate)) {
                return a;
            }
        }
        return null;
    }

    /**
     * Puts {@code account} in the place of the account with the same id (a
     * re-enrolled secret, a moved-on HOTP counter). Returns false when no
     * account has this id.
     */
    public boolean replace(Account account) {
        for (int i = 0; i < accounts.size(); i++) {
            if (accounts.get(i).id().equals(account.id())) {
                accounts.set(i, account);
                return true;
            }
        }
        return false;
    }

    /** Returns false when no account has this id. */
    public boolean rename(String id, String issuer, String name) {
        for (int i = 0; i < accounts.size(); i++) {
            if (accounts.get(i).id().equals(id)) {
                accounts.set(i, accounts.get(i).renamed(issuer, name));
                return true;
            }
        }
        return false;
    }

    /** Returns false when no account has this id. */
    public boolean remove(String id) {
        for (int i = 0; i < accounts.size(); i++) {
            if (accounts.get(i).id().equals(id)) {
                accounts.remove(i);
                return true;
            }
        }
        return false;
    }

    public int size() {
        return accounts.size();
    }
}
