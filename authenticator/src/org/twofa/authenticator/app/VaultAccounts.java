package org.twofa.authenticator.app;

import org.twofa.authenticator.otp.OtpAuthUri;
import org.twofa.authenticator.vault.Account;
import org.twofa.authenticator.vault.HotpAccount;
import org.twofa.authenticator.vault.TotpAccount;

/** An account as the link that would add it again (for recovering set-aside vaults). */
final class VaultAccounts {
    private VaultAccounts() {}

    static OtpAuthUri toUri(Account a) {
        if (a instanceof HotpAccount) {
            return new OtpAuthUri(a.issuer(), a.name(), ((HotpAccount) a).hotp());
        }
        return new OtpAuthUri(a.issuer(), a.name(), ((TotpAccount) a).totp());
    }
}
