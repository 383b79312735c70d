package org.twofa.authenticator.app;

import android.content.Context;
import android.view.LayoutInflater;
import android.view.View;
import android.view.ViewGroup;
import android.widget.BaseAdapter;
import android.widget.Button;
import android.widget.ProgressBar;
import android.widget.TextView;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.twofa.authenticator.R;
import org.twofa.authenticator.otp.Totp;
import org.twofa.authenticator.vault.Account;
import org.twofa.authenticator.vault.HotpAccount;
import org.twofa.authenticator.vault.TotpAccount;

/**
 * One row per account: issuer, account, current code as "123 456", and the
 * seconds left (TOTP) or the counter with a "next code" button (HOTP). The
 * search text keeps only the accounts whose issuer or name contain it.
 */
final class AccountAdapter extends BaseAdapter {
    /** Pressing "next code" on an HOTP row. */
    interface NextCodeListener {
        void onNextCode(HotpAccount account);
    }

    private final Context context;
    private final LayoutInflater inflater;
    private final NextCodeListener nextCode;
    private List<Account> all;
    private List<Account> shown;
    private String filter = "";

    AccountAdapter(Context context, List<Account> accounts, NextCodeListener nextCode) {
        this.context = context;
        this.inflater = LayoutInflater.from(context);
        this.nextCode = nextCode;
        this.all = accounts;
        this.shown = accounts;
    }

    void setAccounts(List<Account> accounts) {
        this.all = accounts;
        refilter();
    }

    void setFilter(String text) {
        filter = text == null ? "" : text.trim().toLowerCase(Locale.ROOT);
        refilter();
    }

    int totalCount() {
        return all.size();
    }

    private void refilter() {
        if (filter.isEmpty()) {
            shown = all;
        } else {
            shown = new ArrayList<Account>();
            for (Account a : all) {
                if (a.issuer().toLowerCase(Locale.ROOT).contains(filter)
                        || a.name().toLowerCase(Locale.ROOT).contains(filter)) {
                    shown.add(a);
                }
            }
        }
        notifyDataSetChanged();
    }

    @Override
    public int getCount() {
        return shown.size();
    }

    @Override
    public Account getItem(int position) {
        return shown.get(position);
    }

    @Override
    public long getItemId(int position) {
        return shown.get(position).id().hashCode();
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
        final Account account = shown.get(position);
        TextView issuer = (TextView) row.findViewById(R.id.issuer);
        TextView name = (TextView) row.findViewById(R.id.account);
        TextView code = (TextView) row.findViewById(R.id.code);
        TextView countdown = (TextView) row.findViewById(R.id.countdown);
        ProgressBar bar = (ProgressBar) row.findViewById(R.id.countdown_bar);
        Button next = (Button) row.findViewById(R.id.next_code);
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
            bar.setVisibility(View.VISIBLE);
            bar.setMax(totp.period());
            bar.setProgress(left);
            next.setVisibility(View.GONE);
            row.setContentDescription(title(account) + ". "
                    + context.getResources().getQuantityString(R.plurals.code_description, left, grouped, left));
        } else if (account instanceof HotpAccount) {
            final HotpAccount hotp = (HotpAccount) account;
            String grouped = Totp.group(hotp.hotp().code());
            code.setText(grouped);
            countdown.setText(context.getString(R.string.counter, hotp.hotp().counter()));
            bar.setVisibility(View.GONE);
            next.setVisibility(View.VISIBLE);
            next.setOnClickListener(new View.OnClickListener() {
                @Override
                public void onClick(View v) {
                    nextCode.onNextCode(hotp);
                }
            });
            row.setContentDescription(title(account) + ". " + context.getString(R.string.hotp_description, grouped));
        }
        return row;
    }

    /** The code to copy for this account right now. */
    static String currentCode(Account account) {
        if (account instanceof TotpAccount) {
            return ((TotpAccount) account).totp().code(System.currentTimeMillis() / 1000L);
        }
        if (account instanceof HotpAccount) {
            return ((HotpAccount) account).hotp().code();
        }
        return null;
    }
}
