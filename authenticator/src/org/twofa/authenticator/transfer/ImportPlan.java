package org.twofa.authenticator.transfer;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.UUID;
import org.twofa.authenticator.otp.OtpAuthUri;
import org.twofa.authenticator.vault.Account;
import org.twofa.authenticator.vault.HotpAccount;
import org.twofa.authenticator.vault.TotpAccount;
import org.twofa.authenticator.vault.Vault;

/**
 * What an import will do, shown to the user before anything changes: the
 * accounts it adds, and those it skips because the vault (or the same
 * import) already has an account generating the same codes.
 */
public final class ImportPlan {
    private final List<Account> toAdd = new ArrayList<Account>();
    private final List<Account> duplicates = new ArrayList<Account>();
    private final ImportBatch skipped;

    public ImportPlan(Vault vault, ImportBatch batch) {
        Vault seen = new Vault();
        for (Account a : vault.accounts()) {
            seen.add(a);
        }
        for (OtpAuthUri u : batch.accounts()) {
            Account candidate = account(UUID.randomUUID().toString(), u);
            if (seen.findSameSecret(candidate) != null) {
                duplicates.add(candidate);
            } else {
                seen.add(candidate);
                toAdd.add(candidate);
            }
        }
        skipped = batch;
    }

    public static Account account(String id, OtpAuthUri u) {
        return u.isHotp() ? new HotpAccount(id, u.issuer(), u.accountName(), u.hotp())
                : new TotpAccount(id, u.issuer(), u.accountName(), u.totp());
    }

    public List<Account> toAdd() {
        return Collections.unmodifiableList(toAdd);
    }

    /** Already in the vault (same secret and parameters): left out. */
    public List<Account> duplicates() {
        return Collections.unmodifiableList(duplicates);
    }

    /** Entries of the file that cannot be imported, with the reason, in English. */
    public List<String> skipped() {
        return skipped.skipped();
    }

    /** The same in {@code language} ("pt", "en", ...; English when the app does not speak it). */
    public List<String> skipped(String language) {
        return skipped.skipped(language);
    }

    /** Adds the new accounts to {@code vault}; the caller saves it. */
    public void applyTo(Vault vault) {
        for (Account a : toAdd) {
            if (vault.findSameSecret(a) == null) {
                vault.add(a);
            }
        }
    }
}
