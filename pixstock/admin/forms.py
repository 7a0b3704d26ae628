"""Admin forms."""
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    DecimalField,
    EmailField,
    FieldList,
    Form,
    FormField,
    IntegerField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Email, InputRequired, Length, NumberRange, Optional, ValidationError

from ..models.events import CURRENCIES


def whole_satang(form, field):
    """Refuse amounts with fractions of the smallest unit (e.g. 12.345 baht)."""
    if field.data is not None and field.data != field.data.quantize(Decimal("0.01")):
        raise ValidationError(_l("Use at most two decimals."))


def to_satang(amount: Decimal | None) -> int | None:
    """A decimal amount in baht (or another currency's main unit) as an integer in its smallest unit."""
    return None if amount is None else int((amount * 100).to_integral_value())


class InvitePhotographerForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Email(), Length(max=254)])
    display_name = StringField(_l("Name"), validators=[Optional(), Length(max=120)])
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=40)])
    commission_percent = DecimalField(
        _l("Commission (%)"), places=2, default=50, validators=[DataRequired(), NumberRange(min=0, max=100)]
    )
    submit = SubmitField(_l("Send invitation"))


class CommissionForm(FlaskForm):
    commission_percent = DecimalField(
        _l("Commission (%)"), places=2, validators=[InputRequired(), NumberRange(min=0, max=100), whole_satang]
    )
    submit = SubmitField(_l("Save"))


class EventForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    slug = StringField(
        _l("Web address"),
        validators=[Optional(), Length(max=100)],
        description=_l("Letters, digits and hyphens; left empty, it is made from the name. "
                       "Changing it breaks QR codes already printed."),
    )
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=5000)])
    event_date = DateField(_l("Date"), validators=[Optional()])
    location = StringField(_l("Place"), validators=[Optional(), Length(max=200)])
    expiry_date = DateField(
        _l("Sales end after"), validators=[Optional()],
        description=_l("After this day the gallery says the event is closed and nothing can be bought."),
    )
    watermark_text = StringField(
        _l("Watermark text"), default="pixstock", validators=[DataRequired(), Length(max=100)],
        description=_l("Printed on every preview; applies to photos processed after the change."),
    )
    currency = SelectField(_l("Currency"), choices=list(CURRENCIES), default="THB")
    submit = SubmitField(_l("Save"))

    def validate_expiry_date(self, field):
        if field.data and self.event_date.data and field.data < self.event_date.data:
            raise ValidationError(_l("Sales cannot end before the event takes place."))


class BundleForm(Form):
    """One "any N photos for P" tier; a row left empty is ignored."""

    photo_count = IntegerField(_l("Photos"), validators=[Optional(), NumberRange(min=2, max=10000)])
    price = DecimalField(_l("Price"), places=2, validators=[Optional(), NumberRange(min=0), whole_satang])


class PricingForm(FlaskForm):
    price_single = DecimalField(
        _l("One photo"), places=2, validators=[InputRequired(message=_l("Set a price.")), NumberRange(min=0), whole_satang]
    )
    bundles = FieldList(FormField(BundleForm), min_entries=3, max_entries=20)
    price_all_of_me = DecimalField(
        _l("All photos of me"), places=2, validators=[Optional(), NumberRange(min=0), whole_satang],
        description=_l("Every photo a selfie search finds, for one price. Leave empty to not offer it."),
    )
    submit = SubmitField(_l("Save prices"))

    def bundle_tiers(self) -> list[tuple[int, int]]:
        """The filled-in bundle rows as (photo count, price in the smallest unit)."""
        tiers = []
        for entry in self.bundles.entries:
            count, price = entry.form.photo_count.data, entry.form.price.data
            if count is not None and price is not None:
                tiers.append((count, to_satang(price)))
        return tiers

    def validate_bundles(self, field):
        for entry in field.entries:
            if (entry.form.photo_count.data is None) != (entry.form.price.data is None):
                raise ValidationError(_l("Give each bundle both a number of photos and a price."))
