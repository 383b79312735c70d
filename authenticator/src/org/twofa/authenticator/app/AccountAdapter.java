package org.twofa.authenticator.app;

import android.content.Context;
import android.view.LayoutInflater;
import android.view.View;
import android.view.ViewGroup;
import android.widget.BaseAdapter;
import android.widget.ProgressBar;
import android.widget.TextView;
import org.twofa.authenticator.R;
import java.util.List;
import org.twofa.authenticator.otp.Totp;
import org.twofa.authenticator.vault.Account;
import org.twofa.authenticator.vault.TotpAccount;

/** One row per account: issuer, account, current code as "123 456", seconds left. */
final class AccountAdapter extends BaseAdapter {
    private final Context context;
    private final LayoutInflater inflater;
    private List<Account> accounts;

    AccountAdapter(Context context, List<Account> accounts) {
        this.context = context;
        this.inflater = LayoutInflater.from(context);
        this.accounts = accounts;
    }

    void setAccounts(List<Account> accounts) {
        this.accounts = accounts;
        notifyDataSetChanged();
    }

    @Override
    public int getCount() {
        return accounts.size();
    }

    @Override
    public Account getItem(int position) {
        return accounts.get(position);
    }

    @Override
    public long getItemId(int position) {
        return accounts.get(position).id().hashCode();
    }

    @Override
    public boolean hasStableIds() {
        return true;
    }

    /** The first line of a row: the issuer, or the account when there is none. */
    static String title(Account a) {
        return a.issuer().isEmpty() ? a.name() : a.issuer();
    }

    /** "issuer (account)" for dialogs. */
    static String describe(Account a) {
        return a.issuer().isEmpty() ? a.name() : a.issuer() + " (" + a.name() + ")";
    }

    @Override
    public View getView(int position, View convertView, ViewGroup parent) {
        View row = convertView != null ? convertView : inflater.inflate(R.layout.row_account, parent, false);
        Account account = accounts.get(position);
        TextView issuer = (TextView) row.findViewById(R.id.issuer);
        TextView name = (TextView) row.findViewById(R.id.account);
        TextView code = (TextView) row.findViewById(R.id.code);
        TextView countdown = (TextView) row.findViewById(R.id.countdown);
        ProgressBar bar = (ProgressBar) row.findViewById(R.id.countdown_bar);
        issuer.setText(title(account));
        name.setText(account.issuer().isEmpty() ? "" : account.name());
        name.setVisibility(account.issuer().isEmpty() ? View.GONE : View.VISIBLE);
        if (account instanceof TotpAccount) {
            Totp totp = ((TotpAccount) account).totp();
            long now = System.currentTimeMillis() / 1000L;
            String grouped = Totp.group(totp.code(now));
            int left = totp.secondsRemaining(now);
            code.setText(grouped);
            countdown.setText(context.getString(R.string.seconds_left, left));
            bar.setMax(totp.period());
            bar.setProgress(left);
            row.setContentDescription(title(account) + ". "
                    + context.getString(R.string.code_description, grouped, left));
        }
        return row;
    }

    /** The code to copy for this account right now. */
    static String currentCode(Account account) {
        if (account instanceof TotpAccount) {
            return ((TotpAccount) account).totp().code(System.currentTimeMillis() / 1000L);
        }
        return null;
    }
}
