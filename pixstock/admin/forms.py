"""Admin forms."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DecimalField, EmailField, StringField, SubmitField
from wtforms.validators import DataRequired, Email, Length, NumberRange, Optional


class InvitePhotographerForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Email(), Length(max=254)])
    display_name = StringField(_l("Name"), validators=[Optional(), Length(max=120)])
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=40)])
    commission_percent = DecimalField(
        _l("Commission (%)"), places=2, default=50, validators=[DataRequired(), NumberRange(min=0, max=100)]
    )
    submit = SubmitField(_l("Send invitation"))
