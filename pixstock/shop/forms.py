"""Shop forms."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, SubmitField
from wtforms.validators import DataRequired, Email, Length


class CheckoutForm(FlaskForm):
    """Where the receipt and download links go (a signed-in customer's account email is used as is)."""

    email = EmailField(_l("Email for your receipt and download links"),
                       validators=[DataRequired(), Email(), Length(max=254)])
    submit = SubmitField(_l("Pay securely"))
